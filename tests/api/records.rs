//! Shared records on both stores: registrations and recordals written and read, each finding
//! of `/v1/verify`, provincial keys, the blacklisted-operator rule, and imports (NDJSON and
//! CSV) that are applied whole or not at all, up to 100,000 recordals in one request.

use std::time::Instant;

use serde_json::{Value, json};
use siteban::domain::Uscc;

use crate::helpers::{Store, TestApp, spawn_app, spawn_app_with};

/// Runs each listed case once per store.
macro_rules! records_on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::helpers::Store::Embedded).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::helpers::Store::Redis).await;
                }
            )*
        }
    };
}

records_on_both_stores!(
    registrations_and_recordals_are_written_and_read,
    verify_reports_each_finding,
    blacklisted_operators_may_not_record_new_sites,
    provincial_keys_write_their_own_province,
    imports_apply_everything_or_nothing,
    a_hundred_thousand_recordals_import_in_one_step,
    concurrent_writes_all_land_with_their_indexes,
);

/// A valid credit code with the given 17-character body.
fn code(body: &str) -> String {
    Uscc::with_check_character(body).unwrap().to_string()
}

async fn put(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = app
        .client
        .put(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let response = app.get(token, path).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn import(
    app: &TestApp,
    token: &str,
    path: &str,
    content_type: &str,
    body: String,
) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn registration(name: &str, status: &str) -> Value {
    json!({"name": name, "status": status, "legal_representative": "张三", "registered_province": "11"})
}

fn recordal(sponsor: &str, sponsor_code: &str, domains: &[&str], province: &str) -> Value {
    json!({
        "sponsor_name": sponsor,
        "sponsor_code": sponsor_code,
        "domains": domains,
        "access_provider": "Example Hosting",
        "access_province": province
    })
}

fn codes(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn verify(app: &TestApp, token: &str, domain: &str) -> Value {
    let (status, body) = get(app, token, &format!("/v1/verify?domain={domain}")).await;
    assert_eq!(status, 200, "verify {domain}: {body}");
    body
}

pub async fn registrations_and_recordals_are_written_and_read(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    let telecom = app.create_key("telecom", None).await;
    let auditor = app.create_key("auditor", None).await;

    // A registration: created, replaced, read by the other side and by an auditor; the
    // code may come in lower case.
    let path = "/v1/registrations/91110108551385082q";
    let (status, body) = put(
        &app,
        &agency,
        path,
        &registration("北京甲科技有限公司", "active"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["uscc"], "91110108551385082Q");
    assert_eq!(body["checksum_ok"], true);
    assert_eq!(body["uscc_province"], "11");
    let (status, body) = put(
        &app,
        &agency,
        path,
        &registration("北京甲科技有限公司", "revoked"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for token in [&telecom, &auditor] {
        let (status, body) = get(&app, token, "/v1/registrations/91110108551385082Q").await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "revoked");
        assert_eq!(body["legal_representative"], "张三");
        assert_eq!(body["updated_by"]["role"], "agency");
    }
    // A code with a wrong check character is kept and flagged.
    let (status, body) = put(
        &app,
        &agency,
        "/v1/registrations/91350203M0001QAY9B",
        &registration("厦门乙有限公司", "active"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["checksum_ok"], false);

    // A recordal under a real-world form of its number: stored and answered canonically.
    let (status, body) = put(
        &app,
        &telecom,
        "/v1/recordals/京ICP备13025326-2号",
        &recordal(
            "北京甲科技有限公司",
            "91110108551385082Q",
            &["Shop.Example.cn", "www.shop.example.cn"],
            "11",
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["icp_number"], "京ICP备13025326号-2");
    assert_eq!(body["subject"], "京ICP备13025326号");
    assert_eq!(body["site"], 2);
    assert_eq!(body["province"], "11");
    assert_eq!(body["icp_normalisations"], json!(["hao_after_site"]));
    assert_eq!(
        body["domains"],
        json!(["shop.example.cn", "www.shop.example.cn"])
    );
    let (status, body) = get(&app, &agency, "/v1/recordals/京ICP备 13025326号-2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sponsor_code_checksum_ok"], true);
    // Replacing it moves the domain index.
    let (status, _) = put(
        &app,
        &telecom,
        "/v1/recordals/京ICP备13025326号-2",
        &recordal(
            "北京甲科技有限公司",
            "91110108551385082Q",
            &["shop.example.cn"],
            "11",
        ),
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = get(&app, &auditor, "/v1/recordals?domain=shop.example.cn").await;
    assert_eq!(list["recordals"].as_array().unwrap().len(), 1);
    let (_, list) = get(&app, &auditor, "/v1/recordals?domain=www.shop.example.cn").await;
    assert_eq!(list["recordals"], json!([]));

    // Writes are audited.
    let (_, audit) = get(&app, &app.admin_token, "/v1/audit?limit=100").await;
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .or_else(|| audit["audit"].as_array())
        .unwrap_or_else(|| panic!("audit answer {audit}"))
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert!(actions.contains(&"registration.put"), "{actions:?}");
    assert!(actions.contains(&"recordal.put"), "{actions:?}");

    // The OpenAPI document describes every records operation.
    let openapi: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in [
        ("/v1/registrations/{uscc}", "put"),
        ("/v1/registrations/{uscc}", "get"),
        ("/v1/registrations/import", "post"),
        ("/v1/recordals/{icp_number}", "put"),
        ("/v1/recordals/{icp_number}", "get"),
        ("/v1/recordals", "get"),
        ("/v1/recordals/import", "post"),
        ("/v1/verify", "get"),
    ] {
        assert!(
            openapi["paths"][path].get(method).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
}

pub async fn verify_reports_each_finding(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    let telecom = app.create_key("telecom", None).await;
    let auditor = app.create_key("auditor", None).await;
    let good = code("91110108MA0000001");
    let revoked = code("91110108MA0000002");
    let unregistered = code("91110108MA0000003");
    for (uscc, name, status) in [
        (&good, "北京良好科技有限公司", "active"),
        (&revoked, "北京吊销有限公司", "revoked"),
    ] {
        let (s, body) = put(
            &app,
            &agency,
            &format!("/v1/registrations/{uscc}"),
            &registration(name, status),
        )
        .await;
        assert_eq!(s, 201, "{body}");
    }
    let (s, _) = put(
        &app,
        &agency,
        "/v1/registrations/91350203M0001QAY9B",
        &registration("厦门乙有限公司", "active"),
    )
    .await;
    assert_eq!(s, 201);
    let recordals = [
        (
            "京ICP备10000001号",
            "北京良好科技有限公司",
            good.as_str(),
            "clean.example.cn",
            "11",
        ),
        (
            "京ICP备10000002号",
            "北京良好科技（集团）有限公司",
            good.as_str(),
            "renamed.example.cn",
            "11",
        ),
        (
            "京ICP备10000003号",
            "北京吊销有限公司",
            revoked.as_str(),
            "revoked.example.cn",
            "11",
        ),
        (
            "京ICP备10000004号",
            "北京无照有限公司",
            unregistered.as_str(),
            "unregistered.example.cn",
            "11",
        ),
        (
            "闽ICP备10000005号",
            "厦门乙有限公司",
            "91350203M0001QAY9B",
            "badcode.example.cn",
            "35",
        ),
        (
            "京ICP备10000006号",
            "北京良好科技有限公司",
            good.as_str(),
            "elsewhere.example.cn",
            "31",
        ),
    ];
    for (number, sponsor, sponsor_code, domain, province) in recordals {
        let (s, body) = put(
            &app,
            &telecom,
            &format!("/v1/recordals/{number}"),
            &recordal(sponsor, sponsor_code, &[domain], province),
        )
        .await;
        assert_eq!(s, 201, "{number}: {body}");
    }
    let mut cancelled = recordal("北京良好科技有限公司", &good, &["gone.example.cn"], "11");
    cancelled["status"] = json!("cancelled");
    let (s, _) = put(
        &app,
        &telecom,
        "/v1/recordals/京ICP备10000007号",
        &cancelled,
    )
    .await;
    assert_eq!(s, 201);

    let cases: [(&str, &[&str]); 8] = [
        ("clean.example.cn", &[]),
        ("unknown.example.cn", &["not_recorded"]),
        ("renamed.example.cn", &["sponsor_name_mismatch"]),
        ("revoked.example.cn", &["entity_not_active"]),
        ("unregistered.example.cn", &["entity_not_registered"]),
        ("badcode.example.cn", &["invalid_credit_code"]),
        ("elsewhere.example.cn", &["access_province_mismatch"]),
        ("gone.example.cn", &["recordal_cancelled"]),
    ];
    for (domain, expected) in cases {
        for token in [&agency, &telecom, &auditor] {
            let answer = verify(&app, token, domain).await;
            assert_eq!(codes(&answer["findings"]), expected, "{domain}: {answer}");
            for finding in answer["findings"].as_array().unwrap() {
                let message = finding["message"].as_str().unwrap();
                assert!(!message.is_empty() && !message.ends_with('.'), "{message}");
            }
        }
    }
    // A name below a recorded one is verified against it; the details name what differs.
    let answer = verify(&app, &auditor, "www.clean.example.cn").await;
    assert_eq!(answer["recorded_as"], "clean.example.cn");
    assert_eq!(answer["findings"], json!([]));
    assert_eq!(answer["registrations"][0]["uscc"], good.as_str());
    let answer = verify(&app, &auditor, "elsewhere.example.cn").await;
    assert_eq!(answer["findings"][0]["access_province"], "31");
    assert_eq!(answer["findings"][0]["recordal_province"], "11");
    assert_eq!(answer["findings"][0]["icp_number"], "京ICP备10000006号");
    let answer = verify(&app, &auditor, "renamed.example.cn").await;
    assert_eq!(
        answer["findings"][0]["registered_name"],
        "北京良好科技有限公司"
    );
    let answer = verify(&app, &auditor, "unknown.example.cn").await;
    assert_eq!(answer["recorded_as"], Value::Null);

    // Once one of the operator's sites is listed, every site of the operator says so.
    app.listed(&agency, "clean.example.cn").await;
    let answer = verify(&app, &auditor, "renamed.example.cn").await;
    assert_eq!(
        codes(&answer["findings"]),
        ["sponsor_name_mismatch", "operator_blacklisted"],
        "{answer}"
    );
    let blacklisted = &answer["findings"][1];
    assert_eq!(blacklisted["listed_domain"], "clean.example.cn");
    assert_eq!(blacklisted["listed_icp_number"], "京ICP备10000001号");
    assert_eq!(
        verify(&app, &auditor, "clean.example.cn").await["listed"],
        true
    );
}

pub async fn blacklisted_operators_may_not_record_new_sites(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    let telecom = app.create_key("telecom", None).await;
    let sponsor = code("91440101MA0000009");
    let body = |domains: &[&str]| recordal("广州丙有限公司", &sponsor, domains, "44");
    let (s, _) = put(
        &app,
        &telecom,
        "/v1/recordals/粤ICP备20000001号-1",
        &body(&["bad.example.cn"]),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = put(
        &app,
        &telecom,
        "/v1/recordals/粤ICP备20000001号-2",
        &body(&["other.example.cn"]),
    )
    .await;
    assert_eq!(s, 201);
    app.listed(&agency, "bad.example.cn").await;

    // A new recordal, or a new domain on an existing one: refused.
    let (s, answer) = put(
        &app,
        &telecom,
        "/v1/recordals/粤ICP备20000001号-3",
        &body(&["third.example.cn"]),
    )
    .await;
    assert_eq!(s, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "operator_blacklisted");
    let (s, answer) = put(
        &app,
        &telecom,
        "/v1/recordals/粤ICP备20000001号-2",
        &body(&["other.example.cn", "more.example.cn"]),
    )
    .await;
    assert_eq!(s, 409, "{answer}");
    // An import with such a line is refused whole.
    let line = |number: &str, domain: &str, sponsor_code: &str| {
        let mut r = recordal("广州丙有限公司", sponsor_code, &[domain], "44");
        r["icp_number"] = json!(number);
        r.to_string()
    };
    let ndjson = [
        line(
            "粤ICP备20000002号",
            "fine.example.cn",
            &code("91440101MA0000010"),
        ),
        line("粤ICP备20000001号-4", "fourth.example.cn", &sponsor),
    ]
    .join("\n");
    let (s, answer) = import(
        &app,
        &telecom,
        "/v1/recordals/import",
        "application/x-ndjson",
        ndjson,
    )
    .await;
    assert_eq!(s, 422, "{answer}");
    assert_eq!(
        answer["errors"],
        json!([{"line": 2, "code": "operator_blacklisted", "message": answer["errors"][0]["message"]}])
    );
    // The summary counts the line refused for its operator as an error, not as valid.
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("1 line has errors (1 was valid)"),
        "{message}"
    );
    let (s, _) = get(&app, &telecom, "/v1/recordals/粤ICP备20000002号").await;
    assert_eq!(s, 404);
    // Changing an existing recordal without adding a site is allowed (cancelling it, say).
    let mut cancelled = body(&["other.example.cn"]);
    cancelled["status"] = json!("cancelled");
    let (s, answer) = put(
        &app,
        &telecom,
        "/v1/recordals/粤ICP备20000001号-2",
        &cancelled,
    )
    .await;
    assert_eq!(s, 200, "{answer}");
    // Lifted, the operator may record again.
    assert_eq!(app.lift(&agency, "bad.example.cn").await.status(), 200);
    let (s, answer) = put(
        &app,
        &telecom,
        "/v1/recordals/粤ICP备20000001号-3",
        &body(&["third.example.cn"]),
    )
    .await;
    assert_eq!(s, 201, "{answer}");
}

pub async fn provincial_keys_write_their_own_province(store: Store) {
    let app = spawn_app(store).await;
    let beijing_amr = app.create_key("agency", Some("11")).await;
    let shanghai_ca = app.create_key("telecom", Some("31")).await;
    let (s, body) = put(
        &app,
        &beijing_amr,
        "/v1/registrations/91310000600037341L",
        &registration("上海丁有限公司", "active"),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"]["code"], "out_of_province");
    let (s, _) = put(
        &app,
        &beijing_amr,
        "/v1/registrations/91110000600037341L",
        &registration("北京丁有限公司", "active"),
    )
    .await;
    assert_eq!(s, 201);
    let sponsor = "91110000600037341L";
    let (s, body) = put(
        &app,
        &shanghai_ca,
        "/v1/recordals/京ICP备30000001号",
        &recordal("北京丁有限公司", sponsor, &["ding.example.cn"], "11"),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"]["code"], "out_of_province");
    let (s, _) = put(
        &app,
        &shanghai_ca,
        "/v1/recordals/沪ICP备30000001号",
        &recordal("北京丁有限公司", sponsor, &["ding.example.cn"], "31"),
    )
    .await;
    assert_eq!(s, 201);
    // Provincial keys still read the whole country.
    let (s, _) = get(&app, &shanghai_ca, "/v1/registrations/91110000600037341L").await;
    assert_eq!(s, 200);
    let csv = format!(
        "uscc,name\n{},上海戊有限公司\n91110108551385082Q,北京己有限公司\n",
        code("91310115MA0000001")
    );
    let (s, body) = import(
        &app,
        &beijing_amr,
        "/v1/registrations/import",
        "text/csv",
        csv,
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["errors"][0]["line"], 2);
    assert_eq!(body["errors"][0]["code"], "out_of_province");
    assert_eq!(body["error_count"], 1);
}

pub async fn imports_apply_everything_or_nothing(store: Store) {
    let app = spawn_app_with(store, |s| s.records.import_max_records = 5).await;
    let agency = app.create_key("agency", None).await;
    let telecom = app.create_key("telecom", None).await;

    // Registrations as CSV: a bad line refuses the whole file.
    let good = code("91110108MA0000021");
    let csv = format!(
        "uscc,name,status,address\n\
         {good},\"北京庚有限公司\",active,\"北京市海淀区某路1号, 2层\"\n\
         9111XX,北京辛有限公司,active,\n\
         91350203M0001QAY9B,厦门壬有限公司,sleeping,\n"
    );
    let (s, body) = import(&app, &agency, "/v1/registrations/import", "text/csv", csv).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["code"], "import_rejected");
    let lines: Vec<(u64, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(3, "invalid_uscc"), (4, "invalid_record")]);
    let (s, _) = get(&app, &telecom, &format!("/v1/registrations/{good}")).await;
    assert_eq!(s, 404, "nothing of a refused import is applied");
    // Fixed, it applies; the bad checksum is kept and counted.
    let csv = format!(
        "uscc,name,status,address\n\
         {good},\"北京庚有限公司\",active,\"北京市海淀区某路1号, 2层\"\n\
         91350203M0001QAY9B,厦门壬有限公司,cancelled,\n"
    );
    let (s, body) = import(
        &app,
        &agency,
        "/v1/registrations/import",
        "text/csv; charset=utf-8",
        csv,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["imported"], 2);
    assert_eq!(body["created"], 2);
    assert_eq!(body["checksum_failures"], 1);
    let (_, read) = get(&app, &telecom, &format!("/v1/registrations/{good}")).await;
    assert_eq!(read["address"], "北京市海淀区某路1号, 2层");

    // Recordals as NDJSON, with blank lines, a duplicate and malformed JSON.
    let line = |number: &str, domain: &str| {
        let mut r = recordal("北京庚有限公司", &good, &[domain], "11");
        r["icp_number"] = json!(number);
        r.to_string()
    };
    let ndjson = [
        line("京ICP备40000001号", "geng.example.cn"),
        String::new(),
        line("京ICP备40000001", "geng2.example.cn"),
        "{\"icp_number\": ".to_string(),
        line("京ICP备40000002号", "geng3.example.cn"),
    ]
    .join("\n");
    let (s, body) = import(
        &app,
        &telecom,
        "/v1/recordals/import",
        "application/x-ndjson",
        ndjson,
    )
    .await;
    assert_eq!(s, 422, "{body}");
    let lines: Vec<(u64, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(3, "duplicate_record"), (4, "invalid_json")]);
    let (_, list) = get(&app, &telecom, "/v1/recordals?domain=geng.example.cn").await;
    assert_eq!(list["recordals"], json!([]));
    let ndjson = [
        line("京ICP备40000001", "geng.example.cn"),
        line("京ICP备40000002号-1", "geng3.example.cn"),
    ]
    .join("\n");
    let (s, body) = import(
        &app,
        &telecom,
        "/v1/recordals/import",
        "application/x-ndjson",
        ndjson,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["created"], 2);
    assert_eq!(body["normalised_icp_numbers"], 1);
    let answer = verify(&app, &agency, "geng3.example.cn").await;
    assert_eq!(answer["findings"], json!([]), "{answer}");
    // Again: the same records are replaced, not added.
    let ndjson = line("京ICP备40000001号", "geng.example.cn");
    let (s, body) = import(
        &app,
        &telecom,
        "/v1/recordals/import",
        "application/x-ndjson",
        ndjson,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["updated"], 1);

    // Over the configured number of records: refused before anything is judged.
    let many = (0..6)
        .map(|i| line(&format!("京ICP备4100000{i}号"), &format!("m{i}.example.cn")))
        .collect::<Vec<_>>()
        .join("\n");
    let (s, body) = import(
        &app,
        &telecom,
        "/v1/recordals/import",
        "application/x-ndjson",
        many,
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["code"], "too_many_records");
    let (s, body) = import(
        &app,
        &telecom,
        "/v1/recordals/import",
        "application/json",
        "[]".into(),
    )
    .await;
    assert_eq!(s, 415, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_media_type");
}

/// `n` recordals as NDJSON, each with its own sponsor and domain; lines in `bad` carry an
/// ICP number with seven digits.
fn generated_recordals(n: usize, bad: &[usize]) -> String {
    let mut out = String::with_capacity(n * 260);
    for i in 0..n {
        let sponsor = code(&format!("9111010{:010}", i));
        let number = if bad.contains(&i) {
            format!("京ICP备{:07}号", i % 10_000_000)
        } else {
            format!("京ICP备{:08}号", 50_000_000 + i)
        };
        let line = json!({
            "icp_number": number,
            "sponsor_name": format!("北京第{i}号科技有限公司"),
            "sponsor_code": sponsor,
            "domains": [format!("site{i}.example.cn"), format!("www.site{i}.example.cn")],
            "access_provider": "Example Hosting Beijing",
            "access_province": "11"
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

pub async fn a_hundred_thousand_recordals_import_in_one_step(store: Store) {
    const N: usize = 100_000;
    let app = spawn_app(store).await;
    let telecom = app.create_key("telecom", None).await;
    let bad = [17, 50_000, N - 1];
    let (s, body) = import(
        &app,
        &telecom,
        "/v1/recordals/import",
        "application/x-ndjson",
        generated_recordals(N, &bad),
    )
    .await;
    assert_eq!(
        s,
        422,
        "{}",
        &body.to_string()[..body.to_string().len().min(2000)]
    );
    let lines: Vec<u64> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [18, 50_001, N as u64]);
    assert!(
        app.registry
            .store
            .recordals_by_domain(&siteban::domain::DomainName::parse("site0.example.cn").unwrap())
            .await
            .unwrap()
            .is_empty(),
        "nothing of the refused import is applied"
    );
    let started = Instant::now();
    let (s, body) = import(
        &app,
        &telecom,
        "/v1/recordals/import",
        "application/x-ndjson",
        generated_recordals(N, &[]),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["created"], N);
    // Timing is measured by benches/records_import.sh on a release build; this is a
    // debug-build sanity figure for the log only.
    eprintln!(
        "{store:?}: imported {N} recordals in {:?} (debug build)",
        started.elapsed()
    );
    for i in [0, 12_345, N - 1] {
        let (s, one) = get(
            &app,
            &telecom,
            &format!("/v1/recordals/京ICP备{}号", 50_000_000 + i),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(one["domains"][1], format!("www.site{i}.example.cn"));
        let (_, list) = get(
            &app,
            &telecom,
            &format!("/v1/recordals?domain=www.site{i}.example.cn"),
        )
        .await;
        assert_eq!(
            list["recordals"][0]["icp_number"],
            format!("京ICP备{}号", 50_000_000 + i)
        );
    }
}

pub async fn concurrent_writes_all_land_with_their_indexes(store: Store) {
    const WRITERS: usize = 12;
    let app = spawn_app(store).await;
    let telecom = app.create_key("telecom", None).await;
    let sponsor = code("91110108MA0000077");
    // Every writer records a site of the same sponsor: on Redis they race for the same
    // sponsor row and all but one must start again.
    let writes = (0..WRITERS).map(|i| {
        let (app, telecom, sponsor) = (&app, &telecom, &sponsor);
        async move {
            put(
                app,
                telecom,
                &format!("/v1/recordals/京ICP备60000001号-{}", i + 1),
                &recordal(
                    "北京并发有限公司",
                    sponsor,
                    &[&format!("c{i}.example.cn")],
                    "11",
                ),
            )
            .await
        }
    });
    for (status, body) in futures_util::future::join_all(writes).await {
        assert_eq!(status, 201, "{body}");
    }
    let code = Uscc::parse(&sponsor).unwrap();
    let all = app
        .registry
        .store
        .recordals_by_sponsors(&[code])
        .await
        .unwrap();
    assert_eq!(all[&code].len(), WRITERS);
    for i in 0..WRITERS {
        let (_, list) = get(
            &app,
            &telecom,
            &format!("/v1/recordals?domain=c{i}.example.cn"),
        )
        .await;
        assert_eq!(list["recordals"].as_array().unwrap().len(), 1, "c{i}");
    }
}
