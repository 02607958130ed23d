//! Every endpoint against every role: 401 without a token, 403 for a role the policy leaves
//! out, success for a role it names. The README's role matrix states the same table.

use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, entry_body, lift_body, spawn_app};

const ROLES: [&str; 6] = [
    "admin",
    "agency",
    "telecom",
    "access_provider",
    "dns_provider",
    "auditor",
];

/// (method, path, allowed roles). `{n}` in a path is replaced by a name unique to each call.
const MATRIX: &[(&str, &str, &[&str])] = &[
    ("POST", "/v1/keys", &["admin"]),
    ("GET", "/v1/keys", &["admin"]),
    ("DELETE", "/v1/keys/{key}", &["admin"]),
    ("POST", "/v1/entries", &["agency", "telecom"]),
    ("GET", "/v1/entries", &["agency", "telecom", "auditor"]),
    (
        "GET",
        "/v1/entries/{listed}",
        &["agency", "telecom", "auditor"],
    ),
    ("POST", "/v1/entries/{listed}/lift", &["agency", "telecom"]),
    (
        "POST",
        "/v1/entries/{listed}/locate",
        &["agency", "telecom"],
    ),
    (
        "GET",
        "/v1/check?domain=a.example.cn",
        &[
            "agency",
            "telecom",
            "access_provider",
            "dns_provider",
            "auditor",
        ],
    ),
    (
        "POST",
        "/v1/check",
        &[
            "agency",
            "telecom",
            "access_provider",
            "dns_provider",
            "auditor",
        ],
    ),
    (
        "GET",
        "/v1/feed",
        &[
            "agency",
            "telecom",
            "access_provider",
            "dns_provider",
            "auditor",
        ],
    ),
    (
        "GET",
        "/v1/snapshot",
        &[
            "agency",
            "telecom",
            "access_provider",
            "dns_provider",
            "auditor",
        ],
    ),
    (
        "GET",
        "/v1/rpz",
        &["agency", "telecom", "dns_provider", "auditor"],
    ),
    ("POST", "/v1/providers", &["admin"]),
    (
        "GET",
        "/v1/providers",
        &["admin", "agency", "telecom", "auditor"],
    ),
    (
        "GET",
        "/v1/providers/{provider}",
        &["admin", "agency", "telecom", "auditor"],
    ),
    ("PATCH", "/v1/providers/{provider}", &["admin"]),
    ("DELETE", "/v1/providers/{provider}", &["admin"]),
    (
        "GET",
        "/v1/locate?domain=a.example.cn",
        &["admin", "agency", "telecom"],
    ),
    (
        "GET",
        "/v1/notices?provider={provider}",
        &[
            "agency",
            "telecom",
            "access_provider",
            "dns_provider",
            "auditor",
        ],
    ),
    (
        "GET",
        "/v1/notices/{notice}",
        &[
            "agency",
            "telecom",
            "access_provider",
            "dns_provider",
            "auditor",
        ],
    ),
    (
        "POST",
        "/v1/notices/{notice}/ack",
        &["access_provider", "dns_provider"],
    ),
    ("GET", "/v1/compliance", &["agency", "telecom", "auditor"]),
    (
        "GET",
        "/v1/protected",
        &["admin", "agency", "telecom", "auditor"],
    ),
    ("POST", "/v1/protected", &["admin"]),
    ("DELETE", "/v1/protected/{protected}", &["admin"]),
    ("GET", "/v1/audit", &["admin", "auditor"]),
    ("PUT", "/v1/registrations/{new_uscc}", &["agency"]),
    (
        "GET",
        "/v1/registrations/{registration}",
        &["agency", "telecom", "auditor"],
    ),
    ("POST", "/v1/registrations/import", &["agency"]),
    ("PUT", "/v1/recordals/{new_icp}", &["telecom"]),
    (
        "GET",
        "/v1/recordals/{recordal}",
        &["agency", "telecom", "auditor"],
    ),
    (
        "GET",
        "/v1/recordals?domain=r.example.cn",
        &["agency", "telecom", "auditor"],
    ),
    ("POST", "/v1/recordals/import", &["telecom"]),
    (
        "GET",
        "/v1/verify?domain=r.example.cn",
        &["agency", "telecom", "auditor"],
    ),
    // In this order: each organisation registers its webhook, reads it, removes it.
    ("PUT", "/v1/inbox/webhook", &["agency", "telecom"]),
    ("GET", "/v1/inbox/webhook", &["agency", "telecom"]),
    ("DELETE", "/v1/inbox/webhook", &["agency", "telecom"]),
    ("POST", "/v1/documents", &["admin", "agency", "telecom"]),
    // A provider's key only for a document named by an entry its provider was sent a notice
    // about, as `{document}` is for it (tests/api/documents.rs has the refusals).
    ("GET", "/v1/documents/{document}", &ROLES),
    ("GET", "/v1/documents/{document}/meta", &ROLES),
    // By now the listings above are in the log's tree.
    ("GET", "/v1/log/key", FEED_ROLES),
    ("GET", "/v1/log/checkpoint", FEED_ROLES),
    ("GET", "/v1/log/tile/0/000.p/1", FEED_ROLES),
    ("GET", "/v1/log/tile/entries/000.p/1", FEED_ROLES),
    ("GET", "/v1/log/proof?seq=1", FEED_ROLES),
    ("GET", "/v1/log/consistency?from=1", FEED_ROLES),
    ("GET", "/v1/audit/checkpoint", &["admin", "auditor"]),
    (
        "GET",
        "/v1/entries/{listed}/proof",
        &["agency", "telecom", "auditor"],
    ),
];

/// Who reads the feed, and so the transparency log.
const FEED_ROLES: &[&str] = &[
    "agency",
    "telecom",
    "access_provider",
    "dns_provider",
    "auditor",
];

/// A PDF's bytes unique to `n`.
fn document(n: usize) -> Vec<u8> {
    format!("%PDF-1.7\n% matrix document {n}\n").into_bytes()
}

/// A credit code registered in Shanghai (province 31, the provincial callers'), unique to `n`.
fn shanghai_uscc(n: usize) -> String {
    siteban::domain::Uscc::with_check_character(&format!("91310000MA{n:07}"))
        .unwrap()
        .to_string()
}

/// A Shanghai ICP number, unique to `n`.
fn shanghai_icp(n: usize) -> String {
    format!("沪ICP备{n:08}号")
}

fn registration_body() -> Value {
    json!({"name": "上海某某有限公司", "status": "active"})
}

fn recordal_body(n: usize) -> Value {
    json!({
        "sponsor_name": "上海某某有限公司",
        "sponsor_code": shanghai_uscc(n),
        "domains": [format!("r{n}.example.cn")],
        "access_provider": "Example Hosting Shanghai",
        "access_province": "31"
    })
}

/// Rows checked on an app with four-eyes approval on: `{pending}` is an entry submitted by
/// another key of the caller's side and province.
const REVIEW_MATRIX: &[(&str, &str, &[&str])] = &[
    (
        "POST",
        "/v1/entries/{pending}/approve",
        &["agency", "telecom"],
    ),
    (
        "POST",
        "/v1/entries/{pending}/reject",
        &["agency", "telecom"],
    ),
];

/// Rows checked on an app with four-eyes on lifts: a lift answers `202`, and `{pending_lift}`
/// is an entry whose lift another key of the caller's side and province asked for.
const LIFT_REVIEW_MATRIX: &[(&str, &str, &[&str])] = &[
    ("POST", "/v1/entries/{listed}/lift", &["agency", "telecom"]),
    (
        "POST",
        "/v1/entries/{pending_lift}/lift/approve",
        &["agency", "telecom"],
    ),
    (
        "POST",
        "/v1/entries/{pending_lift}/lift/reject",
        &["agency", "telecom"],
    ),
];

/// A caller: its role, token, province, and the provider a provider key speaks for.
struct Token {
    role: &'static str,
    token: String,
    province: Option<&'static str>,
    provider: Option<Value>,
}

/// Calls one endpoint as `caller`. Entries it needs are listed first by an agency key of the
/// caller's province, so that a provincial caller acts within its own province; provider
/// paths name the caller's own provider when it has one, else a new one.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    caller: Option<&Token>,
    unique: usize,
) -> (u16, Value) {
    let token = caller.map(|c| c.token.as_str());
    let province = caller.and_then(|c| c.province);
    let agency = app.create_key("agency", province).await;
    let mut path = path.to_string();
    // Reviewed things are submitted by another key of the caller's side, so that the side
    // rule holds.
    let side = caller
        .map(|c| c.role)
        .filter(|r| *r == "telecom")
        .unwrap_or("agency");
    if path.contains("{pending}") {
        let submitter = app.create_key(side, province).await;
        let pending = format!("pending{unique}.example.cn");
        app.listed(&submitter, &pending).await;
        path = path.replace("{pending}", &pending);
    }
    if path.contains("{pending_lift}") {
        let requester = app.create_key(side, province).await;
        let domain = format!("lift{unique}.example.cn");
        app.listed(&agency, &domain).await;
        crate::helpers::expect(
            app.lift(&requester, &domain).await,
            202,
            "asking for a lift",
        )
        .await;
        path = path.replace("{pending_lift}", &domain);
    }
    if path.contains("{provider}") || path.contains("{notice}") {
        let provider = match caller.and_then(|c| c.provider.clone()) {
            Some(own) => own,
            None => {
                app.create_provider(&json!({"name": "matrix provider", "kind": "access"}))
                    .await
            }
        };
        path = path.replace("{provider}", provider["id"].as_str().unwrap());
        if path.contains("{notice}") {
            let mut body = entry_body(&format!("n{unique}.example.cn"));
            body["providers"] = json!([provider["id"]]);
            let entry: Value = app
                .post(&agency, "/v1/entries", &body)
                .await
                .json()
                .await
                .unwrap();
            path = path.replace("{notice}", entry["notices"][0]["id"].as_str().unwrap());
        }
    }
    if path.contains("{document}") {
        // Uploaded, and named by an entry whose notices go to the caller's provider, if any.
        let bytes = document(unique);
        let response = app
            .client
            .post(app.url("/v1/documents"))
            .bearer_auth(&agency)
            .header("content-type", "application/pdf")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        let stored: Value = response.json().await.unwrap();
        let hash = stored["sha256"].as_str().unwrap().to_string();
        let mut body = entry_body(&format!("d{unique}.example.cn"));
        body["decision"]["document_sha256"] = json!(hash);
        if let Some(provider) = caller.and_then(|c| c.provider.as_ref()) {
            body["providers"] = json!([provider["id"]]);
        }
        let response = app.post(&agency, "/v1/entries", &body).await;
        assert_eq!(response.status(), 201);
        path = path.replace("{document}", &hash);
    }
    let listed = format!("m{unique}.example.cn");
    if path.contains("{listed}") {
        app.listed(&agency, &listed).await;
        path = path.replace("{listed}", &listed);
    }
    if path.contains("{protected}") {
        let name = format!("p{unique}.example.org");
        let response = app
            .post(&app.admin_token, "/v1/protected", &json!({"domain": name}))
            .await;
        assert_eq!(response.status(), 201);
        path = path.replace("{protected}", &name);
    }
    if path.contains("{new_uscc}") {
        path = path.replace("{new_uscc}", &shanghai_uscc(unique));
    }
    if path.contains("{new_icp}") {
        path = path.replace("{new_icp}", &shanghai_icp(unique));
    }
    if path.contains("{registration}") {
        let code = shanghai_uscc(unique);
        let url = app.url(&format!("/v1/registrations/{code}"));
        let response = app
            .client
            .put(url)
            .bearer_auth(&agency)
            .json(&registration_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        path = path.replace("{registration}", &code);
    }
    if path.contains("{recordal}") {
        let telecom = app.create_key("telecom", province).await;
        let number = shanghai_icp(unique);
        let response = app
            .client
            .put(app.url(&format!("/v1/recordals/{number}")))
            .bearer_auth(&telecom)
            .json(&recordal_body(unique))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        path = path.replace("{recordal}", &number);
    }
    if path.contains("{key}") {
        let key: Value = app
            .post(
                &app.admin_token,
                "/v1/keys",
                &json!({"name": "spare", "role": "auditor"}),
            )
            .await
            .json()
            .await
            .unwrap();
        path = path.replace("{key}", key["id"].as_str().unwrap());
    }
    let url = app.url(&path);
    let mut request = match method {
        "PUT" if path.starts_with("/v1/registrations/") => {
            app.client.put(url).json(&registration_body())
        }
        "PUT" if path == "/v1/inbox/webhook" => app
            .client
            .put(url)
            .json(&json!({"url": "http://127.0.0.1:9/inbox"})),
        "PUT" => app.client.put(url).json(&recordal_body(unique)),
        "POST" if path == "/v1/documents" => app
            .client
            .post(url)
            .header("content-type", "application/pdf")
            .body(document(unique)),
        "POST" if path == "/v1/registrations/import" => app
            .client
            .post(url)
            .header("content-type", "application/x-ndjson")
            .body(format!(
                "{{\"uscc\": \"{}\", \"name\": \"上海某某有限公司\"}}\n",
                shanghai_uscc(unique)
            )),
        "POST" if path == "/v1/recordals/import" => {
            let mut line = recordal_body(unique);
            line["icp_number"] = json!(shanghai_icp(unique));
            app.client
                .post(url)
                .header("content-type", "text/csv")
                .body(format!(
                    "icp_number,sponsor_name,sponsor_code,domains,access_provider,access_province\n{},{},{},{},{},{}\n",
                    line["icp_number"].as_str().unwrap(),
                    line["sponsor_name"].as_str().unwrap(),
                    line["sponsor_code"].as_str().unwrap(),
                    line["domains"][0].as_str().unwrap(),
                    line["access_provider"].as_str().unwrap(),
                    line["access_province"].as_str().unwrap(),
                ))
        }
        "POST" => {
            let body = if path == "/v1/entries" {
                entry_body(&format!("new{unique}.example.cn"))
            } else if path.ends_with("/lift") {
                lift_body()
            } else if path.ends_with("/approve") || path.ends_with("/reject") {
                json!({"reason": "reviewed in the matrix"})
            } else if path == "/v1/keys" {
                json!({"name": "made in the matrix", "role": "auditor"})
            } else if path == "/v1/protected" {
                json!({"domain": format!("q{unique}.example.org"), "note": "matrix"})
            } else if path == "/v1/providers" {
                json!({"name": "made in the matrix", "kind": "dns", "nameservers": ["m.cn"]})
            } else if path.ends_with("/ack") {
                json!({"note": "done"})
            } else {
                json!({"domains": ["a.example.cn"]})
            };
            app.client.post(url).json(&body)
        }
        "PATCH" => app.client.patch(url).json(&json!({"name": "renamed"})),
        "DELETE" => app.client.delete(url),
        _ => app.client.get(url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// A key of every role, national and of province 31, provider keys bound to a provider of
/// their kind (and the bootstrap admin token).
async fn tokens(app: &TestApp) -> Vec<Token> {
    let mut tokens = vec![Token {
        role: "admin",
        token: app.admin_token.clone(),
        province: None,
        provider: None,
    }];
    for role in ROLES {
        for province in [None, Some("31")] {
            let kind = match role {
                "access_provider" => "access",
                "dns_provider" => "dns",
                _ => {
                    let token = app.create_key(role, province).await;
                    tokens.push(Token {
                        role,
                        token,
                        province,
                        provider: None,
                    });
                    continue;
                }
            };
            let provider = app
                .create_provider(&json!({"name": format!("matrix {kind}"), "kind": kind}))
                .await;
            let mut body =
                json!({"name": "provider key", "role": role, "provider_id": provider["id"]});
            if let Some(p) = province {
                body["province"] = json!(p);
            }
            let response = app.post(&app.admin_token, "/v1/keys", &body).await;
            assert_eq!(response.status(), 201);
            let token = response.json::<Value>().await.unwrap()["token"]
                .as_str()
                .unwrap()
                .to_string();
            tokens.push(Token {
                role,
                token,
                province,
                provider: Some(provider),
            });
        }
    }
    tokens
}

async fn run_matrix(app: &TestApp, matrix: &[(&str, &str, &[&str])]) {
    let tokens = tokens(app).await;
    let mut unique = 0;
    for (method, path, allowed) in matrix {
        unique += 1;
        let (status, body) = call(app, method, path, None, unique).await;
        assert_eq!(status, 401, "{method} {path} without a token: {body}");
        assert_eq!(body["error"]["code"], "unauthenticated");
        for caller in &tokens {
            unique += 1;
            let role = caller.role;
            let (status, body) = call(app, method, path, Some(caller), unique).await;
            let whose = caller
                .province
                .map_or("national".to_string(), |p| format!("province {p}"));
            if allowed.contains(&role) {
                assert!(
                    (200..300).contains(&status),
                    "{method} {path} as {whose} {role}: {status} {body}"
                );
            } else {
                assert_eq!(status, 403, "{method} {path} as {whose} {role}: {body}");
                assert_eq!(body["error"]["code"], "forbidden");
            }
        }
    }
}

pub async fn every_role_gets_what_the_matrix_says(store: Store) {
    let app = spawn_app(store).await;
    run_matrix(&app, MATRIX).await;
    // Operations endpoints and the public pages need no token.
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v1/public/check?domain=a.example.cn",
        "/notice",
        "/lookup?domain=a.example.cn",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let app = crate::helpers::spawn_app_with(store, |s| s.entries.require_approval = true).await;
    run_matrix(&app, REVIEW_MATRIX).await;
    let app =
        crate::helpers::spawn_app_with(store, |s| s.entries.require_lift_approval = true).await;
    run_matrix(&app, LIFT_REVIEW_MATRIX).await;
}
