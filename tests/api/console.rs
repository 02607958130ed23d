//! The console and the public pages over real HTTP: sign-in and its cookie, CSRF, a revoked
//! key's sessions, languages, listing and lifting audited as the key, a case walked by three
//! organisations, the role of every page, and what the public pages tell.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, HOST, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, entry_body, spawn_app, spawn_app_with};

/// A browser's session with the console: a cookie jar, no JavaScript.
pub struct Browser {
    pub client: reqwest::Client,
    base: String,
    pub csrf: String,
}

/// The value of `<input … name="NAME" value="…">` in a page.
pub fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_string())
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        siteban::notices::install_crypto_provider();
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.address.clone(),
            csrf: String::new(),
        }
    }

    /// Signs in through the form; answers the sign-in's own answer (a redirect when it worked).
    pub async fn sign_in(&mut self, token: &str) -> reqwest::Response {
        let form = self.get("/console/sign-in").await.1;
        let csrf = hidden(&form, "csrf").expect("the sign-in form carries its token");
        let answer = self
            .client
            .post(format!("{}/console/sign-in", self.base))
            .form(&[
                ("csrf", csrf.as_str()),
                ("token", token),
                ("next", "/console/"),
            ])
            .send()
            .await
            .unwrap();
        if answer.status() == StatusCode::SEE_OTHER {
            let home = self.get("/console/").await.1;
            self.csrf = hidden(&home, "csrf").expect("a signed-in page carries the form token");
        }
        answer
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let answer = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (answer.status(), answer.text().await.unwrap())
    }

    pub async fn get_in(&self, path: &str, lang: &str) -> (StatusCode, String) {
        let answer = self
            .client
            .get(format!("{}{path}", self.base))
            .header(ACCEPT_LANGUAGE, lang)
            .send()
            .await
            .unwrap();
        (answer.status(), answer.text().await.unwrap())
    }

    /// Posts a form with the session's token; answers the status and where it redirects.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        self.post_raw(path, &form).await
    }

    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let answer = self
            .client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let location = answer
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        let body = answer.text().await.unwrap();
        (status, location.unwrap_or(body))
    }
}

async fn audit(app: &TestApp) -> Vec<Value> {
    let log = app.get(&app.admin_token, "/v1/audit?limit=1000").await;
    log.json::<Value>().await.unwrap()["records"]
        .as_array()
        .unwrap()
        .clone()
}

fn decision_fields() -> Vec<(&'static str, &'static str)> {
    vec![
        ("decision_number", "京市监处罚〔2024〕123号"),
        ("decision_authority", "北京市市场监督管理局"),
        ("decision_date", "2024-05-01"),
    ]
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_the_session() {
    let app = spawn_app(Store::Embedded).await;
    let token = app.create_key("agency", Some("11")).await;
    let mut browser = Browser::new(&app);
    // Not signed in: to the sign-in page, which returns here afterwards.
    let answer = browser
        .client
        .get(app.url("/console/entries"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        answer.headers()["location"],
        "/console/sign-in?next=%2Fconsole%2Fentries"
    );

    let wrong = browser.sign_in("sb_not-a-token").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("令牌无效"));

    let answer = browser.sign_in(&token).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = answer
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("siteban_session="))
        .expect("the sign-in answer sets the session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    // Served without TLS here: a `Secure` cookie would never come back.
    assert!(!cookie.contains("Secure"), "{cookie}");
    let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    assert_eq!(value.len(), 64);

    let (status, home) = browser.get("/console/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("test agency"), "{home}");
    // The store keeps the session under a digest, never the cookie itself.
    let sessions = app.registry.store.sessions().await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(!serde_json::to_string(&sessions[0]).unwrap().contains(value));

    let (status, to) = browser.post("/console/sign-out", &[]).await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/sign-in")
    );
    assert!(app.registry.store.sessions().await.unwrap().is_empty());
    // The old cookie no longer signs anyone in.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/console/"))
        .header("cookie", format!("siteban_session={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
    let kinds: Vec<String> = audit(&app)
        .await
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"console.sign_in".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"console.sign_out".to_string()), "{kinds:?}");
}

#[tokio::test]
async fn a_form_without_its_token_is_refused_and_changes_nothing() {
    let app = spawn_app(Store::Embedded).await;
    let token = app.create_key("agency", Some("11")).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&token).await;
    let mut fields = vec![("domain", "csrf.example.cn"), ("category", "fraud")];
    fields.extend(decision_fields());
    for csrf in [None, Some("0".repeat(64))] {
        let mut form = fields.clone();
        if let Some(csrf) = &csrf {
            form.push(("csrf", csrf));
        }
        let (status, page) = browser.post_raw("/console/entries/new", &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(page.contains("表单已过期"), "{page}");
    }
    let (status, _) = browser.get("/console/entries/csrf.example.cn").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // With its token, the same form lists the domain.
    let (status, to) = browser.post("/console/entries/new", &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    assert_eq!(to, "/console/entries/csrf.example.cn");
}

#[tokio::test]
async fn a_revoked_key_ends_its_sessions() {
    let app = spawn_app(Store::Embedded).await;
    let token = app.create_key("agency", Some("11")).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&token).await;
    assert_eq!(browser.get("/console/entries").await.0, StatusCode::OK);
    let keys = app
        .get(&app.admin_token, "/v1/keys")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let id = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "agency")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = app
        .client
        .delete(app.url(&format!("/v1/keys/{id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let (status, to) = browser.get("/console/entries").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    assert!(app.registry.store.sessions().await.unwrap().is_empty());
}

#[tokio::test]
async fn pages_speak_chinese_first_and_english_when_asked_or_switched() {
    let app = spawn_app(Store::Embedded).await;
    let token = app.create_key("agency", Some("11")).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&token).await;
    let (_, zh) = browser.get("/console/entries/new").await;
    assert!(
        zh.contains("<html lang=\"zh-CN\">") && zh.contains("列入黑名单"),
        "{zh}"
    );
    let (_, en) = browser
        .get_in("/console/entries/new", "en-GB,en;q=0.9")
        .await;
    assert!(
        en.contains("<html lang=\"en\">") && en.contains("List a website"),
        "{en}"
    );
    // The switch is remembered and wins over the header.
    let (status, to) = browser
        .get("/console/language?to=en&next=/console/cases")
        .await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, ""));
    let (_, page) = browser.get_in("/console/cases", "zh-CN").await;
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    // A refusal is explained in the page's language, from the message files.
    let mut fields = vec![("domain", "com.cn"), ("category", "fraud")];
    fields.extend(decision_fields());
    let (status, page) = browser.post("/console/entries/new", &fields).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("A public suffix (such as com.cn) cannot be listed"),
        "{page}"
    );
    assert!(
        page.contains("value=\"com.cn\""),
        "the form keeps what was typed: {page}"
    );
}

#[tokio::test]
async fn listing_reviewing_and_lifting_in_the_console_are_audited_as_the_key() {
    let app = spawn_app_with(Store::Embedded, |s| {
        s.entries.require_approval = true;
        s.entries.require_lift_approval = true;
    })
    .await;
    let first = app.create_key("agency", Some("11")).await;
    let second = app.create_key("agency", Some("11")).await;
    let mut alice = Browser::new(&app);
    alice.sign_in(&first).await;
    let mut bob = Browser::new(&app);
    bob.sign_in(&second).await;

    let mut fields = vec![
        ("domain", "shop.example.cn"),
        ("scope", "subtree"),
        ("category", "counterfeit_goods"),
        ("reason", "sold counterfeit goods"),
    ];
    fields.extend(decision_fields());
    let (status, to) = alice.post("/console/entries/new", &fields).await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/entries/shop.example.cn")
    );
    // The four-eyes queue: not for its author, approved by the second key.
    let (_, queue) = alice.get("/console/review").await;
    assert!(
        queue.contains("shop.example.cn") && queue.contains("本人提交"),
        "{queue}"
    );
    let (_, queue) = bob.get("/console/review").await;
    let id = hidden(&queue, "entry_id").expect("the queue names the entry");
    let (status, _) = bob
        .post(
            "/console/entries/shop.example.cn/approve",
            &[("entry_id", &id)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.check(&first, "www.shop.example.cn").await["listed"],
        true
    );

    let lift = [
        ("document_number", "京市监撤〔2024〕9号"),
        ("document_authority", "北京市市场监督管理局"),
        ("document_date", "2024-06-01"),
    ];
    assert_eq!(
        alice
            .post("/console/entries/shop.example.cn/lift", &lift)
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    let (_, page) = alice.get("/console/entries/shop.example.cn").await;
    assert!(
        page.contains("京市监撤〔2024〕9号"),
        "the pending lift shows: {page}"
    );
    let (status, _) = bob
        .post("/console/entries/shop.example.cn/lift-approve", &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.check(&first, "shop.example.cn").await["listed"], false);

    let records = audit(&app).await;
    let by_action = |action: &str| -> Vec<&Value> {
        records.iter().filter(|r| r["action"] == action).collect()
    };
    let submitted = by_action("entry.submit");
    assert_eq!(submitted.len(), 1, "{records:?}");
    assert_eq!(submitted[0]["target"], "shop.example.cn");
    assert_eq!(submitted[0]["path"], "/console/entries/new");
    let reviews = by_action("entry.review");
    assert_eq!(reviews.len(), 2, "{records:?}");
    assert!(
        reviews
            .iter()
            .all(|r| r["actor"]["name"] == "test agency" && r["status"] == 303)
    );
    assert_eq!(by_action("entry.lift").len(), 1);
    let keys: std::collections::HashSet<&str> = submitted
        .iter()
        .chain(reviews.iter())
        .map(|r| r["actor"]["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "two keys acted: {keys:?}");
}

#[tokio::test]
async fn three_organisations_walk_a_case_through_the_console() {
    let app = spawn_app(Store::Embedded).await;
    let amr = app.create_key("agency", Some("11")).await;
    let ca = app.create_key("telecom", Some("11")).await;
    let mut amr_browser = Browser::new(&app);
    amr_browser.sign_in(&amr).await;
    let mut ca_browser = Browser::new(&app);
    ca_browser.sign_in(&ca).await;

    // The form explains a bad credit code as it is typed (the fragment htmx shows).
    let (_, fragment) = amr_browser
        .get("/console/check/uscc?operator_credit_code=91110108551385082")
        .await;
    assert!(
        fragment.contains("统一社会信用代码格式不正确"),
        "{fragment}"
    );
    let (_, fragment) = amr_browser
        .get("/console/check/icp?icp_number=%E4%BA%ACICP%E5%A4%8713025326%E5%8F%B7-2")
        .await;
    assert!(fragment.contains("格式正确"), "{fragment}");

    let case = [
        ("domain", "fake-shop.example.cn"),
        ("recorded", "yes"),
        ("icp_number", "京ICP备13025326号-2"),
        ("recordal_province", "11"),
        ("access_province", "11"),
        ("operator_name", "某某商贸有限公司"),
        ("operator_credit_code", "91110108551385082Q"),
        ("category", "counterfeit_goods"),
        ("summary", "sells counterfeit goods"),
    ];
    let (status, to) = amr_browser.post("/console/cases/new", &case).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    let case_page = to.clone();
    let (_, page) = amr_browser.get(&case_page).await;
    assert!(
        page.contains("amr:11 → ca:11"),
        "the route is drawn: {page}"
    );
    assert!(
        page.contains("/suspension-request") && page.contains("/withdraw"),
        "{page}"
    );
    assert!(
        !page.contains(&format!("{case_page}/accept")),
        "not the opener's step: {page}"
    );

    // CA 11 sees only its steps: accept or return.
    let (_, page) = ca_browser.get(&case_page).await;
    assert!(page.contains(&format!("{case_page}/accept")), "{page}");
    assert!(!page.contains(&format!("{case_page}/close")), "{page}");
    let (_, inbox) = ca_browser.get("/console/inbox").await;
    assert!(
        inbox.contains("fake-shop.example.cn") && inbox.contains("接收或退回"),
        "{inbox}"
    );
    // A step of another organisation is refused with its explanation.
    let (status, page) = amr_browser
        .post(&format!("{case_page}/close"), &[("measures", "blacklist")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(
        page.contains("不在本机构办理环节") || page.contains("无权"),
        "{page}"
    );

    assert_eq!(
        ca_browser
            .post(&format!("{case_page}/accept"), &[("note", "收到")])
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    let letter = [
        ("letter_number", "京市监函〔2024〕7号"),
        ("letter_authority", "北京市市场监督管理局"),
        ("letter_date", "2024-05-01"),
        ("ground", "property"),
    ];
    assert_eq!(
        amr_browser
            .post(&format!("{case_page}/suspension-request"), &letter)
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        ca_browser
            .post(&format!("{case_page}/suspend"), &[])
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    let check = app.check(&amr, "fake-shop.example.cn").await;
    assert_eq!(check["match"]["status"], "suspended", "{check}");
    let decision = [
        ("decision_number", "京市监处罚〔2024〕123号"),
        ("decision_authority", "北京市市场监督管理局"),
        ("decision_date", "2024-05-02"),
        ("recommendation_number", "京市监建〔2024〕8号"),
        ("recommendation_authority", "北京市市场监督管理局"),
        ("recommendation_date", "2024-05-02"),
    ];
    assert_eq!(
        amr_browser
            .post(&format!("{case_page}/decision"), &decision)
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    let (status, _) = ca_browser
        .post(
            &format!("{case_page}/close"),
            &[("measures", "blacklist"), ("measures", "stop_access")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let check = app.check(&amr, "fake-shop.example.cn").await;
    assert_eq!(check["match"]["status"], "active", "{check}");
    let (_, page) = ca_browser.get_in(&case_page, "en").await;
    assert!(
        page.contains("Closed") && page.contains("Suspension executed"),
        "{page}"
    );
    assert!(
        !page.contains("class=\"step\""),
        "a closed case offers no step: {page}"
    );
}

#[tokio::test]
async fn every_console_page_checks_the_role_of_the_signed_in_key() {
    let app = spawn_app(Store::Embedded).await;
    // (page, roles that may open it)
    let pages: [(&str, &[&str]); 7] = [
        (
            "/console/",
            &[
                "admin",
                "agency",
                "telecom",
                "access_provider",
                "dns_provider",
                "auditor",
            ],
        ),
        ("/console/inbox", &["agency", "telecom"]),
        ("/console/entries", &["agency", "telecom", "auditor"]),
        ("/console/entries/new", &["agency", "telecom"]),
        ("/console/review", &["agency", "telecom"]),
        ("/console/cases", &["agency", "telecom", "auditor"]),
        ("/console/cases/new", &["agency"]),
    ];
    for role in [
        "admin",
        "agency",
        "telecom",
        "access_provider",
        "dns_provider",
        "auditor",
    ] {
        let province = matches!(role, "agency" | "telecom").then_some("11");
        let token = if role == "admin" {
            app.admin_token.clone()
        } else {
            app.create_key(role, province).await
        };
        let mut browser = Browser::new(&app);
        assert_eq!(
            browser.sign_in(&token).await.status(),
            StatusCode::SEE_OTHER,
            "{role}"
        );
        for (page, allowed) in pages {
            let (status, body) = browser.get(page).await;
            let expected = if allowed.contains(&role) {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{role} {page}: {body}");
        }
        // A form posted by a role that may not use it is refused before it is read.
        let (status, _) = browser
            .post("/console/entries/new", &[("domain", "x.example.cn")])
            .await;
        let may = matches!(role, "agency" | "telecom");
        assert_eq!(status == StatusCode::FORBIDDEN, !may, "{role}");
    }
}

#[tokio::test]
async fn the_public_pages_tell_what_a_decision_made_public_and_nothing_else() {
    let app = spawn_app(Store::Embedded).await;
    let agency = app.create_key("agency", Some("11")).await;
    app.listed(&agency, "shop.example.cn").await;
    let anonymous = crate::helpers::client();

    // The notice host: the blocked name is the Host the visitor's browser asked for.
    let page = anonymous
        .get(app.url("/notice"))
        .header(HOST, "www.shop.example.cn")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    for fact in [
        "该网站已被依法停止接入",
        "This website has been blocked",
        "shop.example.cn",
        "京市监处罚",
    ] {
        assert!(page.contains(fact), "{fact}: {page}");
    }
    assert!(!page.contains("test agency"), "never who listed it: {page}");
    let page = anonymous
        .get(app.url("/notice"))
        .header(HOST, "other.example.cn:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        200,
        "an unlisted name is a plain page, never an error"
    );
    assert!(page.text().await.unwrap().contains("不在黑名单中"));

    let json: Value = anonymous
        .get(app.url("/v1/public/check?domain=www.shop.example.cn"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["listed"], true, "{json}");
    assert_eq!(json["listing"]["domain"], "shop.example.cn");
    assert_eq!(
        json["listing"]["decision"]["authority"],
        "北京市市场监督管理局"
    );
    assert!(
        json["listing"].get("listed_by").is_none() && json["listing"].get("reason").is_none(),
        "{json}"
    );
    let json: Value = anonymous
        .get(app.url("/v1/public/check?domain=other.example.cn"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json, json!({"domain": "other.example.cn", "listed": false}));
    let bad = anonymous
        .get(app.url("/v1/public/check?domain=-bad-"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);

    let lookup = anonymous
        .get(app.url("/lookup?domain=shop.example.cn"))
        .header(ACCEPT_LANGUAGE, "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        lookup.contains("Deciding authority") && lookup.contains("北京市市场监督管理局"),
        "{lookup}"
    );
    let _ = entry_body;
}

#[tokio::test]
async fn the_public_pages_are_rate_limited_per_address() {
    let app = spawn_app_with(Store::Embedded, |s| {
        s.limits.rate.public = 2;
        s.limits.rate.burst_seconds = 1;
    })
    .await;
    let anonymous = crate::helpers::client();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let answer = anonymous
            .get(app.url("/v1/public/check?domain=a.example.cn"))
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(statuses[0], 200);
}

/// Sessions live in the store: a session opened on one node is served by another node of the
/// same Redis, and signing out on the second ends it on the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_of_a_shared_store_serves_a_session() {
    let redis = crate::helpers::RedisServer::start();
    let url = redis.url();
    let first = crate::helpers::spawn_app_on_redis(|s| s.store.redis_url = url.clone()).await;
    let second = crate::helpers::spawn_app_on_redis(|s| s.store.redis_url = url.clone()).await;
    let token = first.create_key("agency", Some("11")).await;
    crate::helpers::eventually(
        crate::helpers::DEADLINE,
        "the second node to know the key",
        || async { second.registry.auth.authenticate(&token).is_some() },
    )
    .await;
    let mut browser = Browser::new(&first);
    assert_eq!(
        browser.sign_in(&token).await.status(),
        StatusCode::SEE_OTHER
    );
    let sessions = first.registry.store.sessions().await.unwrap();
    assert_eq!(sessions.len(), 1, "one session in the shared store");
    // The same browser, on the other node: its cookie is for the host, not the port.
    let on_second = |path: &str| second.url(path);
    let answer = browser
        .client
        .get(on_second("/console/entries"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::OK,
        "the second node serves the session"
    );
    let answer = browser
        .client
        .post(on_second("/console/sign-out"))
        .form(&[("csrf", browser.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let (status, _) = browser.get("/console/entries").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "signed out on the first node too"
    );
    drop(redis);
}

/// A session unused for `console.idle_minutes` has ended: the next page is the sign-in form,
/// and the session is gone from the store.
#[tokio::test]
async fn an_idle_session_ends() {
    let app = spawn_app(Store::Embedded).await;
    let token = app.create_key("agency", Some("11")).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&token).await;
    assert_eq!(browser.get("/console/").await.0, StatusCode::OK);
    // Thirty-one minutes without use, as the store records it.
    let mut session = app.registry.store.sessions().await.unwrap().remove(0);
    let expect = session.version;
    session.version += 1;
    session.last_seen = session.last_seen - time::Duration::minutes(31);
    app.registry
        .store
        .put_session(&session, expect)
        .await
        .unwrap();
    let (status, to) = browser.get("/console/").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    assert!(app.registry.store.sessions().await.unwrap().is_empty());
}

/// A suspension is ordered by a case still open: the public pages say nothing of it.
#[tokio::test]
async fn the_public_pages_say_nothing_of_an_open_case() {
    let app = spawn_app(Store::Embedded).await;
    let amr = app.create_key("agency", Some("11")).await;
    let ca = app.create_key("telecom", Some("11")).await;
    let case: Value = app
        .post(
            &amr,
            "/v1/cases",
            &json!({"domain": "suspended.example.cn", "recorded": false, "access_province": "11",
                    "category": "fraud", "summary": "fraud"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = case["id"].as_str().unwrap();
    let step = |token: &str, step: &str, body: Value| {
        let path = format!("/v1/cases/{id}/{step}");
        let token = token.to_string();
        let app = &app;
        async move {
            let answer = app.post(&token, &path, &body).await;
            assert_eq!(
                answer.status(),
                200,
                "{path}: {}",
                answer.text().await.unwrap()
            );
        }
    };
    step(&ca, "accept", json!({})).await;
    let letter = json!({"number": "京市监函〔2024〕7号", "authority": "北京市市场监督管理局", "date": "2024-05-01"});
    step(
        &amr,
        "suspension-request",
        json!({"letter": letter, "ground": "property"}),
    )
    .await;
    step(&ca, "suspend", json!({})).await;
    assert_eq!(
        app.check(&amr, "suspended.example.cn").await["match"]["status"],
        "suspended"
    );
    let public: Value = crate::helpers::client()
        .get(app.url("/v1/public/check?domain=suspended.example.cn"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        public,
        json!({"domain": "suspended.example.cn", "listed": false})
    );
}

/// An entry's page lists the notices its listing ordered, with their state; a provider's key
/// sees only its own. On Redis, an index emptied as an older store's would be is rebuilt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entrys_page_shows_its_notices_and_their_state() {
    let redis = crate::helpers::RedisServer::start();
    let url = redis.url();
    let app = crate::helpers::spawn_app_on_redis(|s| s.store.redis_url = url.clone()).await;
    let agency = app.create_key("agency", Some("11")).await;
    let access = app
        .create_provider(&json!({"name": "联通北京", "kind": "access", "ranges": ["192.0.2.0/24"]}))
        .await;
    let dns = app
        .create_provider(
            &json!({"name": "万网解析", "kind": "dns", "nameservers": ["dnsv.example"]}),
        )
        .await;
    let mut body = entry_body("shop.example.cn");
    body["providers"] = json!([access["id"], dns["id"]]);
    assert_eq!(app.post(&agency, "/v1/entries", &body).await.status(), 201);
    let provider_key = app.provider_key(&dns).await;

    let mut staff = Browser::new(&app);
    staff.sign_in(&agency).await;
    let (_, page) = staff.get("/console/entries/shop.example.cn").await;
    for shown in ["联通北京", "万网解析", "停止接入", "停止解析"] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    let mut provider = Browser::new(&app);
    provider.sign_in(&provider_key).await;
    let (status, page) = provider.get("/console/entries/shop.example.cn").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("万网解析") && !page.contains("联通北京"),
        "{page}"
    );

    // Emptied, as in a store written before the index: rebuilt from the providers' notices.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("{siteban}:notices:entry:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "one entry's index and the mark: {keys:?}");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
    let (_, page) = staff.get("/console/entries/shop.example.cn").await;
    assert!(
        !page.contains("停止接入") && page.contains("尚未向任何服务提供者发出通知"),
        "{page}"
    );
    assert_eq!(app.registry.index_entry_notices().await.unwrap(), 2);
    assert_eq!(app.registry.index_entry_notices().await.unwrap(), 0, "once");
    let (_, page) = staff.get("/console/entries/shop.example.cn").await;
    assert!(
        page.contains("停止接入") && page.contains("停止解析"),
        "{page}"
    );
}

/// Where locating stands shows on the entry's page, and the page asks for a new locate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entrys_page_shows_where_locating_stands_and_locates_again() {
    let app = spawn_app_with(Store::Embedded, |s| s.locate.on_listing = true).await;
    let agency = app.create_key("agency", Some("11")).await;
    app.listed(&agency, "shop.example.cn").await;
    let mut staff = Browser::new(&app);
    staff.sign_in(&agency).await;
    let (_, page) = staff.get("/console/entries/shop.example.cn").await;
    assert!(
        page.contains("定位中") || page.contains("定位失败"),
        "nothing answers the test's upstream, so it is pending or failed: {page}"
    );
    assert!(
        page.contains("/console/entries/shop.example.cn/locate"),
        "{page}"
    );
    let (status, to) = staff
        .post("/console/entries/shop.example.cn/locate", &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    let (_, page) = staff.get_in("/console/entries/shop.example.cn", "en").await;
    assert!(
        page.contains("Being located") || page.contains("Locating failed"),
        "{page}"
    );
    assert!(
        audit(&app)
            .await
            .iter()
            .any(|r| r["action"] == "entry.locate"),
        "audited as the key"
    );
}
