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
];

/// A caller: its role, token, and the provider a provider key speaks for.
struct Token {
    role: &'static str,
    token: String,
    provider: Option<Value>,
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    caller: Option<&Token>,
    unique: usize,
) -> (u16, Value) {
    let token = caller.map(|c| c.token.as_str());
    let agency = app.create_key("agency", None).await;
    // Provider paths name the caller's own provider when it has one, else a new one.
    let mut path = path.to_string();
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
    let path = path.as_str();
    let listed = format!("m{unique}.example.cn");
    let needs_listing = path.contains("{listed}");
    let mut path = path.replace("{listed}", &listed);
    if needs_listing {
        assert_eq!(app.list(&agency, &listed).await.status(), 201);
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
        "POST" => {
            let body = if path == "/v1/entries" {
                entry_body(&format!("new{unique}.example.cn"))
            } else if path.ends_with("/lift") {
                lift_body()
            } else if path == "/v1/keys" {
                json!({"name": "made in the matrix", "role": "auditor"})
            } else if path == "/v1/providers" {
                json!({"name": "made in the matrix", "kind": "dns", "nameservers": ["m.cn"]})
            } else if path.ends_with("/ack") {
                json!({"note": "done"})
            } else {
                json!({"domains": ["a.example.cn"]})
            };
            app.client.post(url).json(&body)
        }
        "DELETE" => app.client.delete(url),
        "PATCH" => app.client.patch(url).json(&json!({"name": "renamed"})),
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

pub async fn every_role_gets_what_the_matrix_says(store: Store) {
    let app = spawn_app(store).await;
    let mut tokens = vec![Token {
        role: "admin",
        token: app.admin_token.clone(),
        provider: None,
    }];
    for role in &ROLES[1..] {
        let provider = match *role {
            "access_provider" => Some(json!({"name": "matrix access", "kind": "access"})),
            "dns_provider" => Some(json!({"name": "matrix dns", "kind": "dns"})),
            _ => None,
        };
        match provider {
            Some(body) => {
                let provider = app.create_provider(&body).await;
                tokens.push(Token {
                    role,
                    token: app.provider_key(&provider).await,
                    provider: Some(provider),
                });
            }
            None => tokens.push(Token {
                role,
                token: app.create_key(role, Some("31")).await,
                provider: None,
            }),
        }
    }
    // National keys too: the role, not the province, decides what a key may call.
    for role in ["agency", "telecom"] {
        tokens.push(Token {
            role,
            token: app.create_key(role, None).await,
            provider: None,
        });
    }
    let mut unique = 0;
    for (method, path, allowed) in MATRIX {
        unique += 1;
        let (status, body) = call(&app, method, path, None, unique).await;
        assert_eq!(status, 401, "{method} {path} without a token: {body}");
        assert_eq!(body["error"]["code"], "unauthenticated");
        for caller in &tokens {
            unique += 1;
            let role = &caller.role;
            let (status, body) = call(&app, method, path, Some(caller), unique).await;
            if allowed.contains(role) {
                assert!(
                    (200..300).contains(&status),
                    "{method} {path} as {role}: {status} {body}"
                );
            } else {
                assert_eq!(status, 403, "{method} {path} as {role}: {body}");
                assert_eq!(body["error"]["code"], "forbidden");
            }
        }
    }
    // Operations endpoints need no token.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}
