//! The console and the public pages in a real browser: Debian's Chromium driven through its
//! ChromeDriver over WebDriver (fantoccini), against the real `siteban` binary, started for
//! each test on an embedded store of its own. Each test saves
//! screenshots under `target/browser/` and runs axe-core (installed from npm by
//! `scripts/test` into `target/browser-tools/`) on the pages it visits, failing on any
//! serious or critical violation. Chromium asks for Simplified Chinese first, as a case
//! worker's browser does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::dns::Unbound;
use crate::helpers::{DEADLINE, Node, entry_body, eventually, expect, free_port};

/// The real `siteban` binary, serving on a free port with an embedded store of its own;
/// `env` adds settings (`SITEBAN__SECTION__KEY`).
struct Binary {
    node: Node,
    address: String,
    admin_token: String,
    client: reqwest::Client,
    dns_address: Option<SocketAddr>,
    _dir: tempfile::TempDir,
}

impl Binary {
    async fn start(env: &[(&str, String)]) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let admin_token = format!("admin-{}", siteban::auth::new_token());
        let mut vars = vec![
            (
                "SITEBAN__STORE__PATH",
                dir.path().join("data").display().to_string(),
            ),
            ("SITEBAN__AUTH__ADMIN_TOKEN", admin_token.clone()),
        ];
        vars.extend(env.iter().map(|(k, v)| (*k, v.clone())));
        let node = Node::start(&vars, dir.path().join("siteban.log"));
        let client = crate::helpers::client();
        node.wait_ready(&client).await;
        let dns_address = env
            .iter()
            .find(|(k, _)| *k == "SITEBAN__DNS__LISTEN")
            .map(|(_, v)| v.parse().unwrap());
        Binary {
            address: node.url(""),
            node,
            admin_token,
            client,
            dns_address,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        self.node.url(path)
    }

    async fn create_key(&self, role: &str, province: Option<&str>) -> String {
        let mut body = json!({"name": format!("test {role}"), "role": role});
        if let Some(p) = province {
            body["province"] = json!(p);
        }
        let answer = self.post(&self.admin_token, "/v1/keys", &body).await;
        expect(answer, 201, "creating a key").await["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn listed(&self, token: &str, domain: &str) -> Value {
        let answer = self.post(token, "/v1/entries", &entry_body(domain)).await;
        expect(answer, 201, "listing").await
    }

    async fn check(&self, token: &str, domain: &str) -> Value {
        let answer = self
            .client
            .get(self.url("/v1/check"))
            .query(&[("domain", domain)])
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        expect(answer, 200, "a check").await
    }
}

/// A ChromeDriver of the test's own, on a free port, and one browser session in it.
struct Chrome {
    driver: Child,
    client: Client,
    base: String,
    /// Names screenshots: `target/browser/<test>-<n>-<what>.png`.
    test: &'static str,
    shots: usize,
}

fn browser_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn axe_source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/browser-tools/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); scripts/test installs axe-core there",
            path.display()
        )
    })
}

impl Chrome {
    /// Starts ChromeDriver and a headless Chromium; `resolve` maps names to addresses (what
    /// a resolver answered), as Chromium's own host resolver rules.
    async fn start(app: &Binary, test: &'static str, resolve: &[(&str, SocketAddr)]) -> Chrome {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start chromedriver ({e}); scripts/test installs Debian's chromium-driver")
            });
        let mut args = vec![
            "--headless=new".to_string(),
            // As root (CI), Chromium refuses to start with its sandbox.
            "--no-sandbox".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-gpu".into(),
            "--window-size=1280,1000".into(),
        ];
        if !resolve.is_empty() {
            let rules: Vec<String> = resolve
                .iter()
                .map(|(name, address)| format!("MAP {name} {}", address.ip()))
                .collect();
            args.push(format!("--host-resolver-rules={}", rules.join(", ")));
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": args,
                "prefs": {"intl.accept_languages": "zh-CN,zh"},
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut client = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let client = client.expect("chromedriver starts a Chromium session");
        Chrome {
            driver,
            client,
            base: app.address.clone(),
            test,
            shots: 0,
        }
    }

    async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    async fn open_url(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(5))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    async fn text(&self) -> String {
        self.find("body").await.text().await.unwrap()
    }

    async fn fill(&self, id: &str, value: &str) {
        let field = self.find(&format!("#{id}")).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Clicks the submit button of the form whose action ends with `action`.
    async fn submit(&self, action: &str) {
        let button = self
            .find(&format!("form[action$='{action}'] button[type=submit]"))
            .await;
        self.leaving().await;
        button.click().await.unwrap();
        self.settle().await;
    }

    /// Marks the page shown now, so that [`Chrome::settle`] can tell when another replaced it.
    async fn leaving(&self) {
        let _: Value = self
            .client
            .execute("window.__leaving = true; return null", vec![])
            .await
            .unwrap();
    }

    /// Waits for the page that the last click led to (marked by [`Chrome::leaving`] before
    /// it) to replace the old one and finish loading.
    async fn settle(&self) {
        for _ in 0..250 {
            let loaded: Value = self
                .client
                .execute(
                    "return window.__leaving !== true && document.readyState === 'complete'",
                    vec![],
                )
                .await
                .unwrap_or(Value::Bool(false));
            if loaded == true {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no new page loaded after 5 s on {}", self.path().await);
    }

    async fn sign_in(&self, token: &str) {
        self.open("/console/sign-in").await;
        self.fill("f-token", token).await;
        self.submit("/console/sign-in").await;
        assert_eq!(self.path().await, "/console/", "{}", self.text().await);
    }

    async fn sign_out(&self) {
        self.submit("/console/sign-out").await;
        assert_eq!(self.path().await, "/console/sign-in");
    }

    async fn shot(&mut self, what: &str) {
        self.shots += 1;
        let png = self.client.screenshot().await.unwrap();
        let name = format!("{}-{:02}-{what}.png", self.test, self.shots);
        std::fs::write(browser_dir().join(name), png).unwrap();
    }

    /// Runs axe-core on the page and fails on any serious or critical violation.
    async fn axe(&self) {
        let _: Value = self.client.execute(&axe_source(), vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, {resultTypes: ['violations']})\
                    .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, \
                       nodes: v.nodes.map(n => n.target.join(' '))}))))\
                    .catch(e => done([{id: 'axe-error', impact: 'critical', nodes: [String(e)]}]));",
                vec![],
            )
            .await
            .unwrap();
        let serious: Vec<&Value> = result
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            serious.is_empty(),
            "axe-core on {}: {serious:#?}",
            self.path().await
        );
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn close(chrome: Chrome) {
    chrome.client.clone().close().await.ok();
}

const DECISION: [(&str, &str); 3] = [
    ("number", "京市监处罚〔2024〕123号"),
    ("authority", "北京市市场监督管理局"),
    ("date", "2024-05-01"),
];

/// Fills a document's three fields (`<prefix>_number`, `_authority`, `_date`).
async fn fill_document(chrome: &Chrome, prefix: &str, number: &str) {
    chrome.fill(&format!("f-{prefix}_number"), number).await;
    chrome
        .fill(&format!("f-{prefix}_authority"), DECISION[1].1)
        .await;
    // A date input takes the digits as typed, in the browser's own order: set it directly.
    let field = chrome.find(&format!("#f-{prefix}_date")).await;
    let _: Value = chrome
        .client
        .execute(
            "arguments[0].value = arguments[1]",
            vec![serde_json::to_value(&field).unwrap(), json!(DECISION[2].1)],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_staff_walk_a_case_through_the_console() {
    let app = Binary::start(&[]).await;
    let mut chrome = Chrome::start(&app, "case", &[]).await;

    // The administrator issues the two organisations' keys; each token is shown once.
    chrome.sign_in(&app.admin_token).await;
    let mut tokens = Vec::new();
    for (name, role) in [
        ("北京市市场监督管理局", "agency"),
        ("北京市通信管理局", "telecom"),
    ] {
        chrome.open("/console/admin/keys").await;
        chrome.fill("f-name", name).await;
        chrome
            .find(&format!("#f-role option[value='{role}']"))
            .await
            .click()
            .await
            .unwrap();
        chrome
            .find("#f-province option[value='11']")
            .await
            .click()
            .await
            .unwrap();
        chrome.submit("/console/admin/keys").await;
        let token = chrome
            .find("#new-token")
            .await
            .prop("value")
            .await
            .unwrap()
            .expect("the new token is shown");
        tokens.push(token);
    }
    chrome.axe().await;
    chrome.shot("admin-key-created").await;
    chrome.sign_out().await;
    let (amr, ca) = (tokens[0].clone(), tokens[1].clone());

    // AMR 11 opens the case; the credit code is judged as it is typed.
    chrome.sign_in(&amr).await;
    chrome.axe().await;
    chrome.shot("amr-home").await;
    chrome.open("/console/cases/new").await;
    chrome.fill("f-domain", "fake-shop.example.cn").await;
    chrome.fill("f-icp_number", "京ICP备13025326号-2").await;
    chrome.fill("f-recordal_province", "11").await;
    chrome.fill("f-access_province", "11").await;
    chrome.fill("f-operator_name", "某某商贸有限公司").await;
    chrome
        .fill("f-operator_credit_code", "9111010855138508")
        .await;
    let live = chrome.find("#live-uscc").await;
    eventually(
        DEADLINE,
        "the credit code to be judged as typed",
        || async {
            live.text()
                .await
                .unwrap()
                .contains("统一社会信用代码格式不正确")
        },
    )
    .await;
    chrome.shot("uscc-refused-as-typed").await;
    chrome
        .fill("f-operator_credit_code", "91110108551385082Q")
        .await;
    eventually(DEADLINE, "the corrected code to be accepted", || async {
        live.text().await.unwrap().contains("格式正确")
    })
    .await;
    chrome.fill("f-summary", "销售假冒注册商标的商品").await;
    chrome.axe().await;
    chrome.submit("/console/cases/new").await;
    let case_page = chrome.path().await;
    assert!(case_page.starts_with("/console/cases/0"), "{case_page}");
    let text = chrome.text().await;
    assert!(text.contains("amr:11") && text.contains("ca:11"), "{text}");
    chrome.axe().await;
    chrome.shot("case-opened").await;
    chrome.sign_out().await;

    // CA 11 finds it in its inbox and accepts it.
    chrome.sign_in(&ca).await;
    chrome.open("/console/inbox").await;
    assert!(chrome.text().await.contains("接收或退回"));
    chrome.axe().await;
    chrome.shot("ca-inbox").await;
    let link = chrome.find("main table a").await;
    chrome.leaving().await;
    link.click().await.unwrap();
    chrome.settle().await;
    assert_eq!(chrome.path().await, case_page);
    chrome.submit("/accept").await;
    chrome.sign_out().await;

    // AMR 11 asks for a suspension; CA 11 executes it.
    chrome.sign_in(&amr).await;
    chrome.open(&case_page).await;
    fill_document(&chrome, "letter", "京市监函〔2024〕7号").await;
    chrome.submit("/suspension-request").await;
    chrome.sign_out().await;
    chrome.sign_in(&ca).await;
    chrome.open(&case_page).await;
    chrome.submit("/suspend").await;
    assert_eq!(
        app.check(&amr, "fake-shop.example.cn").await["match"]["status"],
        "suspended"
    );
    chrome.shot("suspended").await;
    chrome.sign_out().await;

    // AMR 11 submits the decision; CA 11 closes the case with its measures.
    chrome.sign_in(&amr).await;
    chrome.open(&case_page).await;
    fill_document(&chrome, "decision", DECISION[0].1).await;
    fill_document(&chrome, "recommendation", "京市监建〔2024〕8号").await;
    chrome.submit("/decision").await;
    chrome.sign_out().await;
    chrome.sign_in(&ca).await;
    chrome.open(&case_page).await;
    chrome.submit("/close").await;
    let text = chrome.text().await;
    assert!(
        text.contains("已办结") && text.contains("执行暂停接入"),
        "{text}"
    );
    assert_eq!(
        app.check(&amr, "fake-shop.example.cn").await["match"]["status"],
        "active"
    );
    chrome.axe().await;
    chrome.shot("closed").await;
    close(chrome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_and_a_lift_pass_the_four_eyes_queue() {
    let app = Binary::start(&[
        ("SITEBAN__ENTRIES__REQUIRE_APPROVAL", "true".into()),
        ("SITEBAN__ENTRIES__REQUIRE_LIFT_APPROVAL", "true".into()),
    ])
    .await;
    let first = app.create_key("agency", Some("11")).await;
    let second = app.create_key("agency", Some("11")).await;
    let mut chrome = Chrome::start(&app, "listing", &[]).await;

    chrome.sign_in(&first).await;
    chrome.open("/console/entries/new").await;
    chrome.axe().await;
    chrome.fill("f-domain", "shop.example.cn").await;
    fill_document(&chrome, "decision", DECISION[0].1).await;
    chrome.fill("f-reason", "销售假冒商品").await;
    chrome.shot("listing-form").await;
    chrome.submit("/console/entries/new").await;
    assert_eq!(chrome.path().await, "/console/entries/shop.example.cn");
    assert!(chrome.text().await.contains("待复核"));
    chrome.open("/console/review").await;
    assert!(
        chrome.text().await.contains("本人提交"),
        "no review of one's own listing"
    );
    chrome.sign_out().await;

    chrome.sign_in(&second).await;
    chrome.open("/console/review").await;
    chrome.axe().await;
    chrome.shot("review-queue").await;
    chrome.submit("/approve").await;
    assert_eq!(app.check(&first, "shop.example.cn").await["listed"], true);
    chrome.open("/console/entries/shop.example.cn").await;
    fill_document(&chrome, "document", "京市监撤〔2024〕9号").await;
    chrome.submit("/lift").await;
    assert_eq!(
        app.check(&first, "shop.example.cn").await["listed"],
        true,
        "the lift waits"
    );
    chrome.sign_out().await;

    chrome.sign_in(&first).await;
    chrome.open("/console/review").await;
    chrome.submit("/lift-approve").await;
    assert_eq!(app.check(&first, "shop.example.cn").await["listed"], false);
    chrome.open("/console/entries?status=all").await;
    chrome.axe().await;
    chrome.shot("lifted").await;
    close(chrome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_their_token_a_revoked_key_ends_the_session_and_the_language_switches() {
    let app = Binary::start(&[]).await;
    let agency = app.create_key("agency", Some("11")).await;
    let mut chrome = Chrome::start(&app, "session", &[]).await;
    chrome.sign_in(&agency).await;

    // A form whose token was taken out is refused, and nothing is listed.
    chrome.open("/console/entries/new").await;
    chrome.fill("f-domain", "no-token.example.cn").await;
    fill_document(&chrome, "decision", DECISION[0].1).await;
    let _: Value = chrome
        .client
        .execute(
            "document.querySelector(\"form[action='/console/entries/new'] input[name=csrf]\").remove()",
            vec![],
        )
        .await
        .unwrap();
    chrome.submit("/console/entries/new").await;
    assert!(chrome.text().await.contains("表单已过期"));
    chrome.shot("csrf-refused").await;
    assert_eq!(
        app.check(&agency, "no-token.example.cn").await["listed"],
        false
    );

    // The switch to English, remembered on the next page.
    chrome.open("/console/").await;
    let switch = chrome.find(".lang-switch a").await;
    chrome.leaving().await;
    switch.click().await.unwrap();
    chrome.settle().await;
    assert!(chrome.text().await.contains("Sign out"));
    chrome.open("/console/cases").await;
    assert!(chrome.text().await.contains("Cases"));
    chrome.axe().await;
    chrome.shot("english").await;

    // Revoking the key ends the session: the next page is the sign-in form.
    let keys: Value = app
        .get(&app.admin_token, "/v1/keys")
        .await
        .json()
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
    chrome.open("/console/entries").await;
    assert_eq!(chrome.path().await, "/console/sign-in");
    chrome.shot("revoked").await;
    close(chrome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_page_works_with_the_keyboard_alone() {
    let app = Binary::start(&[]).await;
    let amr = app.create_key("agency", Some("11")).await;
    let ca = app.create_key("telecom", Some("11")).await;
    let case = app
        .post(
            &amr,
            "/v1/cases",
            &json!({"domain": "keys.example.cn", "recorded": false, "access_province": "11",
                    "category": "fraud", "summary": "fraud"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let id = case["id"].as_str().unwrap().to_string();
    let mut chrome = Chrome::start(&app, "keyboard", &[]).await;
    chrome.sign_in(&ca).await;
    chrome.open(&format!("/console/cases/{id}")).await;

    let tab = || async {
        chrome
            .client
            .active_element()
            .await
            .unwrap()
            .send_keys(&char::from(fantoccini::key::Key::Tab).to_string())
            .await
            .unwrap();
    };
    let focused = || async {
        let v: Value = chrome
            .client
            .execute(
                "const e = document.activeElement; const s = getComputedStyle(e);\
                 return {tag: e.tagName, text: e.textContent.trim(), href: e.getAttribute('href'),\
                         outline: s.outlineStyle + ' ' + s.outlineWidth};",
                vec![],
            )
            .await
            .unwrap();
        v
    };
    // The first Tab reaches the skip link, visibly focused; Enter moves to the content.
    tab().await;
    let first = focused().await;
    assert_eq!(first["href"], "#main", "{first}");
    assert!(
        !first["outline"].as_str().unwrap().starts_with("none"),
        "{first}"
    );
    chrome
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(&char::from(fantoccini::key::Key::Enter).to_string())
        .await
        .unwrap();
    // From the content, Tab walks to the first step's note, then its button.
    let mut reached = None;
    for _ in 0..40 {
        tab().await;
        let now = focused().await;
        if now["tag"] == "BUTTON" && now["text"] == "接收" {
            reached = Some(now);
            break;
        }
    }
    let button = reached.expect("Tab reaches the Accept button");
    assert!(
        !button["outline"].as_str().unwrap().starts_with("none"),
        "{button}"
    );
    chrome.shot("accept-focused").await;
    chrome.leaving().await;
    chrome
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(&char::from(fantoccini::key::Key::Enter).to_string())
        .await
        .unwrap();
    chrome.settle().await;
    let case: Value = app
        .get(&amr, &format!("/v1/cases/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["state"], "held", "accepted from the keyboard: {case}");
    chrome.axe().await;
    close(chrome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_visitor_reaches_the_notice_page_through_unbound() {
    let unbound_port = free_port();
    let app = Binary::start(&[
        ("SITEBAN__DNS__LISTEN", format!("127.0.0.1:{}", free_port())),
        ("SITEBAN__DNS__WORKERS", "1".into()),
        ("SITEBAN__DNS__RPZ_NOTICE_HOST", "notice.cn.".into()),
        ("SITEBAN__DNS__NOTIFY", format!("127.0.0.1:{unbound_port}")),
    ])
    .await;
    let agency = app.create_key("agency", Some("11")).await;
    app.listed(&agency, "counterfeit-shop.cn").await;
    // The notice host and an honest shop both live on this machine's loopback.
    let unbound = Unbound::start_with(
        unbound_port,
        app.dns_address.unwrap(),
        "notice A 127.0.0.1\nhonest A 127.0.0.1\n",
    );
    let server = unbound.address();
    let resolve = |name: &'static str| lookup_a(server, name);
    eventually(
        DEADLINE,
        "Unbound to send the listed name to the notice host",
        || async {
            resolve("www.counterfeit-shop.cn.")
                .await
                .is_some_and(|(c, _)| c.is_some())
        },
    )
    .await;
    let (cname, address) = resolve("www.counterfeit-shop.cn.").await.unwrap();
    assert_eq!(cname.as_deref(), Some("notice.cn."), "{}", unbound.log());
    let honest = resolve("honest.cn.")
        .await
        .expect("an honest name resolves");
    assert_eq!(honest.0, None);

    let port = app.address.rsplit(':').next().unwrap().to_string();
    let mut chrome = Chrome::start(
        &app,
        "notice",
        &[
            ("www.counterfeit-shop.cn", SocketAddr::new(address, 0)),
            ("honest.cn", SocketAddr::new(honest.1, 0)),
        ],
    )
    .await;
    chrome
        .open_url(&format!(
            "http://www.counterfeit-shop.cn:{port}/goods/1.html"
        ))
        .await;
    let text = chrome.text().await;
    for fact in [
        "该网站已被依法停止接入",
        "This website has been blocked",
        "京市监处罚〔2024〕123号",
        "北京市市场监督管理局",
    ] {
        assert!(text.contains(fact), "{fact}: {text}");
    }
    chrome.axe().await;
    chrome.shot("blocked").await;
    chrome
        .open_url(&format!("http://honest.cn:{port}/notice"))
        .await;
    let text = chrome.text().await;
    assert!(
        text.contains("不在黑名单中") && text.contains("is not listed"),
        "{text}"
    );
    chrome.axe().await;
    chrome.shot("not-listed").await;
    chrome.open("/lookup?domain=counterfeit-shop.cn").await;
    assert!(chrome.text().await.contains("北京市市场监督管理局"));
    chrome.axe().await;
    chrome.shot("lookup").await;
    close(chrome).await;
}

/// Asks `server` for the A record of `name`: the CNAME it went through, if any, and the
/// address.
async fn lookup_a(server: SocketAddr, name: &str) -> Option<(Option<String>, std::net::IpAddr)> {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RData, RecordType};
    let mut query = Message::query();
    query.metadata.id = rand::random();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&query.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    let reply = Message::from_vec(&buf[..len]).ok()?;
    // Follows the chain from the name asked: its CNAME, if any, then the A record of the
    // name it leads to.
    let mut owner = Name::from_ascii(name).unwrap();
    let mut cname = None;
    for record in &reply.answers {
        if let RData::CNAME(target) = &record.data
            && record.name == owner
        {
            owner = target.0.clone();
            cname = Some(owner.to_string());
        }
    }
    let address = reply.answers.iter().find_map(|record| match &record.data {
        RData::A(a) if record.name == owner => Some(std::net::IpAddr::V4(a.0)),
        _ => None,
    });
    match (address, &cname) {
        (Some(address), _) => Some((cname, address)),
        // Unbound answers a rewritten name of its local stand-in zone with the CNAME beside the
        // name's own record, not with the target's: ask for the target, as a stub resolver
        // following the CNAME does.
        (None, Some(target)) => {
            let (_, address) = Box::pin(lookup_a(server, target)).await?;
            Some((cname, address))
        }
        (None, None) => None,
    }
}

/// Every console page, in Chinese and in English, opened by a key allowed to see it, with
/// axe-core on each and a screenshot of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_opens_in_both_languages() {
    let app = Binary::start(&[]).await;
    let amr = app.create_key("agency", Some("11")).await;
    app.listed(&amr, "shop.example.cn").await;
    let case = app
        .post(
            &amr,
            "/v1/cases",
            &json!({"domain": "case.example.cn", "recorded": false, "access_province": "11",
                    "category": "fraud", "summary": "fraud"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let case_page = format!("/console/cases/{}", case["id"].as_str().unwrap());
    let admin = app.admin_token.clone();
    let auditor = app.create_key("auditor", None).await;
    let telecom = app.create_key("telecom", None).await;
    let agency_pages = [
        "/console/",
        "/console/inbox",
        "/console/entries",
        "/console/entries/shop.example.cn",
        "/console/entries/new",
        "/console/review",
        "/console/cases",
        "/console/cases/new",
        case_page.as_str(),
        "/console/referrals",
        "/console/referrals/new",
        "/console/records?verify=shop.example.cn",
        "/console/records/import",
        "/console/providers",
        "/console/no-such-page",
        "/lookup",
        "/lookup?domain=shop.example.cn",
        "/notice",
    ];
    let sessions: [(&str, &String, &[&str]); 4] = [
        ("agency", &amr, &agency_pages),
        (
            "telecom",
            &telecom,
            &["/console/records/import", "/console/inbox"],
        ),
        (
            "admin",
            &admin,
            &[
                "/console/admin/keys",
                "/console/admin/providers",
                "/console/admin/protected",
                "/console/audit",
            ],
        ),
        (
            "auditor",
            &auditor,
            &["/console/audit", "/console/entries", "/console/providers"],
        ),
    ];
    let mut chrome = Chrome::start(&app, "pages", &[]).await;
    for (role, token, pages) in sessions {
        chrome.sign_in(token).await;
        for lang in ["zh-CN", "en"] {
            chrome
                .open(&format!("/console/language?to={lang}&next=/console/"))
                .await;
            for page in pages {
                chrome.open(page).await;
                let html_lang: Value = chrome
                    .client
                    .execute("return document.documentElement.lang", vec![])
                    .await
                    .unwrap();
                assert_eq!(html_lang, lang, "{role} {page}");
                chrome.axe().await;
                let name = page
                    .trim_matches('/')
                    .replace(['/', '?', '='], "_")
                    .chars()
                    .take(40)
                    .collect::<String>();
                chrome.shot(&format!("{role}-{lang}-{name}")).await;
            }
        }
        chrome.open("/console/").await;
        chrome.sign_out().await;
    }
    close(chrome).await;
}

/// A communications administration imports recordals from a file with one bad line: the
/// progress bar follows the upload, nothing is applied and the bad line is shown; the file
/// corrected, every line is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recordal_import_shows_its_bad_line_then_applies() {
    let app = Binary::start(&[]).await;
    let telecom = app.create_key("telecom", None).await;
    let dir = tempfile::tempdir().unwrap();
    let line = |n: usize, province: &str| {
        json!({
            "icp_number": format!("沪ICP备{n:08}号"),
            "sponsor_name": "上海某某有限公司",
            "sponsor_code": siteban::domain::Uscc::with_check_character(&format!("91310000MA{n:07}"))
                .unwrap()
                .to_string(),
            "domains": [format!("r{n}.example.cn")],
            "access_provider": "Example Hosting Shanghai",
            "access_province": province,
        })
        .to_string()
    };
    let bad = dir.path().join("recordals-bad.ndjson");
    std::fs::write(
        &bad,
        format!("{}\n{}\n{}\n", line(1, "31"), line(2, "99"), line(3, "31")),
    )
    .unwrap();
    let good = dir.path().join("recordals.ndjson");
    std::fs::write(
        &good,
        format!("{}\n{}\n{}\n", line(1, "31"), line(2, "31"), line(3, "31")),
    )
    .unwrap();

    let mut chrome = Chrome::start(&app, "import", &[]).await;
    chrome.sign_in(&telecom).await;
    chrome.open("/console/records/import").await;
    chrome.axe().await;
    let mut before = String::new();
    for (file, expect) in [(&bad, "invalid_province"), (&good, "")] {
        chrome
            .find("#f-file")
            .await
            .send_keys(file.to_str().unwrap())
            .await
            .unwrap();
        chrome
            .find("#import-form button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        // htmx swaps the answer into the page (the second answer replaces the first); the bar
        // shows the whole upload sent.
        eventually(DEADLINE, "the import's answer", || async {
            let text = chrome
                .find("#import-result")
                .await
                .text()
                .await
                .unwrap_or_default();
            !text.trim().is_empty() && text != before
        })
        .await;
        let text = chrome.find("#import-result").await.text().await.unwrap();
        before.clone_from(&text);
        let progress: Value = chrome
            .client
            .execute(
                "return document.getElementById('import-progress').value",
                vec![],
            )
            .await
            .unwrap();
        if expect.is_empty() {
            assert!(!text.contains("import_rejected"), "{text}");
            chrome.shot("applied").await;
        } else {
            assert!(
                text.contains(expect) && text.contains("import_rejected"),
                "{text}"
            );
            assert!(text.contains('2'), "the bad line's number: {text}");
            assert_eq!(progress, 100, "the bar followed the upload");
            chrome.axe().await;
            chrome.shot("bad-line").await;
            let recordal = app
                .get(
                    &telecom,
                    "/v1/recordals/%E6%B2%AAICP%E5%A4%8700000001%E5%8F%B7",
                )
                .await;
            assert_eq!(recordal.status(), 404, "nothing applied");
        }
    }
    let recordal = app
        .get(
            &telecom,
            "/v1/recordals/%E6%B2%AAICP%E5%A4%8700000003%E5%8F%B7",
        )
        .await;
    assert_eq!(recordal.status(), 200, "every line applied");
    close(chrome).await;
}
