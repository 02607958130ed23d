//! The console's referrals, records, providers, audit and admin pages over HTTP: each signed
//! in through the real sign-in form, each page for the roles that may see it (in Chinese by
//! default, English on request) and refused to the others, each form applied, audited as the
//! key that signed in, and refused without its CSRF token.

use reqwest::header::{ACCEPT_LANGUAGE, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use siteban::domain::Uscc;

use crate::helpers::{Store, TestApp, spawn_app};

/// A signed-in browser: its session cookie, and a client that does not follow redirects so
/// that every answer is seen as it is.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: String,
}

/// A response's status and body.
struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Page {
    /// The page's form token (the `csrf` hidden field).
    fn csrf(&self) -> String {
        hidden(&self.body, "csrf").expect("the page has a form token")
    }

    fn shows(&self, text: &str) -> &Page {
        assert!(
            self.body.contains(text),
            "the page ({}) does not show {text:?}:\n{}",
            self.status,
            self.body
        );
        self
    }
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_string())
}

/// The value of cookie `name` among a response's `Set-Cookie` headers.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

async fn page(response: reqwest::Response) -> Page {
    Page {
        status: response.status().as_u16(),
        location: response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: response.text().await.unwrap(),
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// Signs in through the sign-in form with `token`.
async fn sign_in<'a>(app: &'a TestApp, token: &str) -> Browser<'a> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(app.url("/console/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let sign_in_cookie = cookie(&response, "siteban_sign_in").expect("the sign-in cookie");
    let csrf = hidden(&response.text().await.unwrap(), "csrf").expect("the sign-in token");
    let response = client
        .post(app.url("/console/sign-in"))
        .header(COOKIE, format!("siteban_sign_in={sign_in_cookie}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &csrf), ("token", token)]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "signing in");
    let session = cookie(&response, "siteban_session").expect("the session cookie");
    Browser {
        app,
        client,
        cookie: format!("siteban_session={session}"),
    }
}

impl Browser<'_> {
    async fn get(&self, path: &str) -> Page {
        self.get_in(path, None).await
    }

    async fn get_in(&self, path: &str, lang: Option<&str>) -> Page {
        let mut request = self
            .client
            .get(self.app.url(path))
            .header(COOKIE, &self.cookie);
        if let Some(lang) = lang {
            request = request.header(ACCEPT_LANGUAGE, lang);
        }
        page(request.send().await.unwrap()).await
    }

    /// Posts a form; `csrf` is added first unless it is `None`.
    async fn post(&self, path: &str, csrf: Option<&str>, fields: &[(&str, &str)]) -> Page {
        let mut all = Vec::new();
        if let Some(token) = csrf {
            all.push(("csrf", token));
        }
        all.extend_from_slice(fields);
        let response = self
            .client
            .post(self.app.url(path))
            .header(COOKIE, &self.cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&all))
            .send()
            .await
            .unwrap();
        page(response).await
    }

    /// Posts a file as a browser's form does (`multipart/form-data`).
    async fn upload(&self, path: &str, csrf: Option<&str>, name: &str, file: &str) -> Page {
        let boundary = "----sitebanTestBoundary7MA4YWxkTrZu0gW";
        let mut body = String::new();
        if let Some(token) = csrf {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n"
            ));
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n{file}\r\n--{boundary}--\r\n"
        ));
        let response = self
            .client
            .post(self.app.url(path))
            .header(COOKIE, &self.cookie)
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        page(response).await
    }
}

/// The audit records of `action`, read with the admin's token.
async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    let log: Value = app
        .get(&app.admin_token, "/v1/audit?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    log["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == action)
        .cloned()
        .collect()
}

/// Asserts that `action` was audited as the key named `name`, with `status`.
async fn audited_as(app: &TestApp, action: &str, name: &str, status: u16) {
    let records = audited(app, action).await;
    assert!(
        records
            .iter()
            .any(|r| r["actor"]["name"] == name && r["status"] == status),
        "no {action} audited as {name} with {status}: {records:?}"
    );
}

fn code(body: &str) -> String {
    Uscc::with_check_character(body).unwrap().to_string()
}

#[tokio::test]
async fn records_are_looked_up_verified_and_imported_with_every_bad_line_shown() {
    let app = spawn_app(Store::Embedded).await;
    let agency = app.create_key("agency", None).await;
    let telecom = app.create_key("telecom", None).await;
    let auditor = app.create_key("auditor", None).await;
    let provider = app.create_key("access_provider", None).await;
    let uscc = code("91110108MA0000031");
    let response = app
        .client
        .put(app.url(&format!("/v1/registrations/{uscc}")))
        .bearer_auth(&agency)
        .json(&json!({"name": "北京甲科技有限公司", "status": "active"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let amr = sign_in(&app, &agency).await;
    let path = format!("/console/records?uscc={uscc}&verify=shop.example.cn");
    amr.get(&path)
        .await
        .shows("北京甲科技有限公司")
        .shows("企业登记")
        .shows("该域名没有备案");
    amr.get_in(&path, Some("en"))
        .await
        .shows("Registration")
        .shows("The domain has no recordal.");
    amr.get("/console/records?uscc=nonsense")
        .await
        .shows("invalid_uscc");
    let reader = sign_in(&app, &auditor).await;
    assert_eq!(reader.get(&path).await.status, 200);
    assert_eq!(reader.get("/console/records/import").await.status, 403);
    let outsider = sign_in(&app, &provider).await;
    assert_eq!(outsider.get(&path).await.status, 403);

    // The import page: each side imports its own records.
    let form = amr.get("/console/records/import").await;
    form.shows("enctype=\"multipart/form-data\"")
        .shows("<progress")
        .shows("/console/records/import/registrations");
    let csrf = form.csrf();
    // The progress bar is driven by a script file of the console's own, which the pages'
    // policy (`script-src 'self'`) allows.
    form.shows("hx-encoding=\"multipart/form-data\"")
        .shows("src=\"/console/static/console.js\"");
    amr.get("/console/static/console.js")
        .await
        .shows("htmx:xhr:progress");
    let bad = format!(
        "uscc,name,status\n{},北京乙有限公司,active\n9111XX,北京丙有限公司,active\n{},北京丁有限公司,sleeping\n",
        code("91110108MA0000041"),
        code("91110108MA0000051")
    );
    let refused = amr
        .upload(
            "/console/records/import/registrations",
            Some(&csrf),
            "bad.csv",
            &bad,
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    refused
        .shows("import_rejected")
        .shows("<td>3</td>")
        .shows("<td>4</td>");
    let good = format!(
        "uscc,name,status\n{},北京乙有限公司,active\n",
        code("91110108MA0000041")
    );
    let forged = amr
        .upload(
            "/console/records/import/registrations",
            None,
            "good.csv",
            &good,
        )
        .await;
    assert_eq!(forged.status, 403);
    let applied = amr
        .upload(
            "/console/records/import/registrations",
            Some(&csrf),
            "good.csv",
            &good,
        )
        .await;
    assert_eq!(applied.status, 200, "{}", applied.body);
    applied.shows("新建 1 条");
    audited_as(&app, "registration.import", "test agency", 200).await;
    let wrong_side = amr
        .upload(
            "/console/records/import/recordals",
            Some(&csrf),
            "good.csv",
            &good,
        )
        .await;
    assert_eq!(wrong_side.status, 403);

    let ca = sign_in(&app, &telecom).await;
    let form = ca.get_in("/console/records/import", Some("en")).await;
    form.shows("Import website recordals");
    let recordals = format!(
        "{{\"icp_number\":\"京ICP备13025326号-2\",\"sponsor_name\":\"北京乙有限公司\",\"sponsor_code\":\"{}\",\"domains\":[\"yi.example.cn\"],\"access_provider\":\"联通\",\"access_province\":\"11\",\"status\":\"active\"}}\n{{\"icp_number\":\"nonsense\"}}\n",
        code("91110108MA0000041")
    );
    let refused = ca
        .upload(
            "/console/records/import/recordals",
            Some(&form.csrf()),
            "r.ndjson",
            &recordals,
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    refused.shows("<td>2</td>");
    audited_as(&app, "recordal.import", "test telecom", 422).await;
    let good = recordals.lines().next().unwrap();
    let applied = ca
        .upload(
            "/console/records/import/recordals",
            Some(&form.csrf()),
            "r.ndjson",
            good,
        )
        .await;
    assert_eq!(applied.status, 200, "{}", applied.body);
    audited_as(&app, "recordal.import", "test telecom", 200).await;
    let icp = form_urlencoded::byte_serialize("京ICP备13025326号-2".as_bytes()).collect::<String>();
    ca.get(&format!("/console/records?icp={icp}&domain=yi.example.cn"))
        .await
        .shows("网站备案 京ICP备13025326号-2")
        .shows("含有 yi.example.cn 的备案")
        .shows("yi.example.cn</td>");
}

#[tokio::test]
async fn providers_compliance_is_a_table_and_an_accessible_chart() {
    let app = spawn_app(Store::Embedded).await;
    let auditor = app.create_key("auditor", None).await;
    let agency = app.create_key("agency", None).await;
    let admin = app.create_key("admin", None).await;
    app.create_provider(&json!({"name": "北京接入服务商", "kind": "access"}))
        .await;
    let reader = sign_in(&app, &auditor).await;
    reader
        .get("/console/providers")
        .await
        .shows("北京接入服务商")
        .shows("<svg")
        .shows("role=\"img\"")
        .shows("<title id=\"chart-title\">各服务商")
        .shows("<th scope=\"row\">北京接入服务商</th>");
    reader
        .get_in("/console/providers", Some("en"))
        .await
        .shows("Notices sent, acknowledged and overdue per provider");
    assert_eq!(
        sign_in(&app, &agency)
            .await
            .get("/console/providers")
            .await
            .status,
        200
    );
    assert_eq!(
        sign_in(&app, &admin)
            .await
            .get("/console/providers")
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn the_audit_log_is_filtered_and_its_chain_verified() {
    let app = spawn_app(Store::Embedded).await;
    let auditor = app.create_key("auditor", None).await;
    let agency = app.create_key("agency", None).await;
    let reader = sign_in(&app, &auditor).await;
    let log = reader.get("/console/audit?action=key.create").await;
    log.shows("自日志开头起链接正确").shows("key.create");
    assert!(
        !log.body.contains("<code>console.sign_in</code>"),
        "{}",
        log.body
    );
    reader
        .get_in("/console/audit?action=console.sign_in", Some("en"))
        .await
        .shows("chain correctly from the start of the log")
        .shows("<code>console.sign_in</code>");
    reader
        .get("/console/audit?from=2001-01-01&to=2001-01-02")
        .await
        .shows("没有符合条件的记录");
    assert_eq!(
        sign_in(&app, &agency)
            .await
            .get("/console/audit")
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn admins_manage_keys_providers_and_protected_names() {
    let app = spawn_app(Store::Embedded).await;
    let admin = app.create_key("admin", None).await;
    let agency = app.create_key("agency", None).await;
    let console = sign_in(&app, &admin).await;
    assert_eq!(console.get("/console/admin").await.status, 303);
    let keys = console.get("/console/admin/keys").await;
    keys.shows("test agency");
    let csrf = keys.csrf();

    // Keys: created with the token shown once, which then signs in; revoked.
    let fields = [
        ("name", "广东省通信管理局"),
        ("role", "telecom"),
        ("province", "44"),
    ];
    assert_eq!(
        console
            .post("/console/admin/keys", None, &fields)
            .await
            .status,
        403
    );
    let created = console
        .post("/console/admin/keys", Some(&csrf), &fields)
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.shows("只显示这一次");
    let marker = "id=\"new-token\" type=\"text\" readonly value=\"";
    let start = created.body.find(marker).expect("the new token") + marker.len();
    let end = start + created.body[start..].find('"').unwrap();
    let token = created.body[start..end].to_string();
    assert!(token.starts_with("sb_"), "{token}");
    let new = sign_in(&app, &token).await;
    assert_eq!(new.get("/console/").await.status, 200);
    let refused = console
        .post(
            "/console/admin/keys",
            Some(&csrf),
            &[("name", "x"), ("role", "emperor")],
        )
        .await;
    assert_eq!(refused.status, 422);
    refused.shows("invalid_role");
    let past = [
        ("name", "x"),
        ("role", "auditor"),
        ("expires_on", "2001-01-01"),
    ];
    let refused = console
        .post("/console/admin/keys", Some(&csrf), &past)
        .await;
    assert_eq!(refused.status, 422);
    refused.shows("invalid_expiry");
    let listed: Value = app.get(&admin, "/v1/keys").await.json().await.unwrap();
    let id = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "广东省通信管理局")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoke = format!("/console/admin/keys/{id}/revoke");
    assert_eq!(console.post(&revoke, None, &[]).await.status, 403);
    assert_eq!(console.post(&revoke, Some(&csrf), &[]).await.status, 303);
    assert_eq!(
        new.get("/console/").await.status,
        303,
        "the revoked key's session ended"
    );
    audited_as(&app, "key.create", "test admin", 201).await;
    audited_as(&app, "key.revoke", "test admin", 303).await;

    // Providers: registered with the secret shown once, then removed.
    let fields = [
        ("name", "广东电信"),
        ("kind", "access"),
        ("ranges", "203.0.113.0/24\n198.51.100.0/24"),
    ];
    assert_eq!(
        console
            .post("/console/admin/providers", None, &fields)
            .await
            .status,
        403
    );
    let created = console
        .post("/console/admin/providers", Some(&csrf), &fields)
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.shows("whsec_").shows("203.0.113.0&#x2f;24");
    let providers: Value = app.get(&admin, "/v1/providers").await.json().await.unwrap();
    let id = providers["providers"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bad = [
        ("name", "x"),
        ("kind", "dns"),
        ("nameservers", "not a name!"),
    ];
    let refused = console
        .post("/console/admin/providers", Some(&csrf), &bad)
        .await;
    assert_eq!(refused.status, 422);
    refused.shows("invalid_nameserver");
    let delete = format!("/console/admin/providers/{id}/delete");
    assert_eq!(console.post(&delete, None, &[]).await.status, 403);
    assert_eq!(console.post(&delete, Some(&csrf), &[]).await.status, 303);
    console
        .get_in("/console/admin/providers", Some("en"))
        .await
        .shows("Register a provider");
    audited_as(&app, "provider.create", "test admin", 201).await;
    audited_as(&app, "provider.delete", "test admin", 303).await;

    // Protected names: added, listed, removed.
    let fields = [("domain", "gov.example.cn"), ("note", "政府网站")];
    assert_eq!(
        console
            .post("/console/admin/protected", None, &fields)
            .await
            .status,
        403
    );
    let added = console
        .post("/console/admin/protected", Some(&csrf), &fields)
        .await;
    assert_eq!(added.status, 303);
    console
        .get("/console/admin/protected")
        .await
        .shows("gov.example.cn")
        .shows("政府网站");
    let again = console
        .post("/console/admin/protected", Some(&csrf), &fields)
        .await;
    assert_eq!(again.status, 422);
    again.shows("already_protected");
    let remove = "/console/admin/protected/gov.example.cn/remove";
    assert_eq!(console.post(remove, None, &[]).await.status, 403);
    assert_eq!(console.post(remove, Some(&csrf), &[]).await.status, 303);
    assert!(
        !console
            .get("/console/admin/protected")
            .await
            .body
            .contains("gov.example.cn")
    );
    audited_as(&app, "protected.add", "test admin", 303).await;
    audited_as(&app, "protected.remove", "test admin", 303).await;

    let other = sign_in(&app, &agency).await;
    for path in [
        "/console/admin/keys",
        "/console/admin/providers",
        "/console/admin/protected",
    ] {
        assert_eq!(other.get(path).await.status, 403, "{path}");
    }
    assert_eq!(
        other
            .post(
                "/console/admin/keys",
                Some(&other.get("/console/").await.csrf()),
                &[("name", "x"), ("role", "admin")]
            )
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn referrals_are_listed_and_answered_step_by_step() {
    let app = spawn_app(Store::Embedded).await;
    let amr11 = app.create_key("agency", Some("11")).await;
    let ca11 = app.create_key("telecom", Some("11")).await;
    let auditor = app.create_key("auditor", None).await;
    let provider = app.create_key("dns_provider", None).await;
    let body = json!({
        "to": "amr:11",
        "subject": "冒用营业执照备案",
        "domain": "forged.example.cn",
        "summary": "备案主体的企业登记不存在",
    });
    let response = app.post(&ca11, "/v1/referrals", &body).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let amr = sign_in(&app, &amr11).await;
    amr.get("/console/referrals")
        .await
        .shows("收到的")
        .shows("冒用营业执照备案");
    let page = amr.get(&format!("/console/referrals/{id}")).await;
    page.shows(&format!("/console/referrals/{id}/accept"))
        .shows(&format!("/console/referrals/{id}/return"));
    let csrf = page.csrf();
    let accept = format!("/console/referrals/{id}/accept");
    assert_eq!(amr.post(&accept, None, &[]).await.status, 403);
    let accepted = amr.post(&accept, Some(&csrf), &[]).await;
    assert_eq!(accepted.status, 303);
    assert_eq!(
        accepted.location.as_deref(),
        Some(format!("/console/referrals/{id}").as_str())
    );
    let page = amr
        .get_in(&format!("/console/referrals/{id}"), Some("en"))
        .await;
    page.shows("Accepted, awaiting the answer")
        .shows(&format!("/console/referrals/{id}/answer"));
    let answer = format!("/console/referrals/{id}/answer");
    let empty = amr.post(&answer, Some(&csrf), &[]).await;
    assert_eq!(empty.status, 422);
    let answered = amr
        .post(&answer, Some(&csrf), &[("result", "已立案调查")])
        .await;
    assert_eq!(answered.status, 303);
    amr.get(&format!("/console/referrals/{id}"))
        .await
        .shows("已答复")
        .shows("已立案调查");
    audited_as(&app, "referral.step", "test agency", 303).await;

    // Sending one back to the other side, through the form.
    let form = amr.get("/console/referrals/new").await;
    form.shows("name=\"to\"");
    let fields = [
        ("to", "ca:11"),
        ("subject", "主体资格虚假的网站"),
        ("domain", "fake-subject.example.cn"),
        ("summary", "企业登记已注销，网站仍在经营"),
    ];
    let path = "/console/referrals/new";
    assert_eq!(amr.post(path, None, &fields).await.status, 403);
    let same_side = [("to", "samr"), ("subject", "x"), ("summary", "y")];
    let refused = amr.post(path, Some(&form.csrf()), &same_side).await;
    assert_eq!(refused.status, 422);
    refused.shows("invalid_referral");
    let sent = amr.post(path, Some(&form.csrf()), &fields).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    audited_as(&app, "referral.send", "test agency", 303).await;

    let ca = sign_in(&app, &ca11).await;
    ca.get("/console/referrals")
        .await
        .shows("主体资格虚假的网站");
    let sent = ca.get("/console/referrals").await;
    sent.shows("发出的").shows("冒用营业执照备案");
    assert!(
        !ca.get(&format!("/console/referrals/{id}"))
            .await
            .body
            .contains("/answer\"")
    );
    assert_eq!(
        sign_in(&app, &auditor)
            .await
            .get("/console/referrals")
            .await
            .status,
        200
    );
    assert_eq!(
        sign_in(&app, &provider)
            .await
            .get("/console/referrals")
            .await
            .status,
        403
    );
}
