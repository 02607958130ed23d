//! Test harness: a real `redis-server` per test on a free port in its own directory, the
//! application started in-process on port 0 with its own state, the real binary started as a
//! process, and a real HTTP client.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use siteban::settings::{Backend, Settings};
use siteban::startup::Application;
use tempfile::TempDir;

pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// An HTTP client for the tests. reqwest has no TLS provider of its own in this build, so
/// one is installed first, as the service does.
pub fn client() -> reqwest::Client {
    siteban::notices::install_crypto_provider();
    reqwest::Client::new()
}

/// Polls `condition` until it holds or `deadline` passes.
pub async fn eventually<F, Fut>(deadline: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A `redis-server` process of this test's own.
pub struct RedisServer {
    pub port: u16,
    dir: TempDir,
    aof: bool,
    /// Further `redis-server` arguments (cluster mode, `--replicaof`), kept for restarts.
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts Redis without persistence.
    pub fn start() -> RedisServer {
        RedisServer::start_with(false)
    }

    /// Starts Redis; with `aof`, every write is fsynced to the append-only file before Redis
    /// answers it.
    pub fn start_with(aof: bool) -> RedisServer {
        RedisServer::start_args(aof, &[])
    }

    /// Starts Redis with further arguments, such as `--cluster-enabled yes`.
    pub fn start_args(aof: bool, extra: &[String]) -> RedisServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut server = RedisServer {
            port: free_port(),
            dir,
            aof,
            extra: extra.to_vec(),
            child: None,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--save")
            .arg("")
            .arg("--daemonize")
            .arg("no")
            .arg("--logfile")
            .arg(self.dir.path().join("redis.log"));
        if self.aof {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        command.args(&self.extra);
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}); install it (scripts/test does) and retry")
            });
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut conn) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "redis-server on port {} did not answer; see {}",
                self.port,
                self.dir.path().join("redis.log").display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// SIGKILL: no chance to save anything on the way out.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server: stopped, it keeps its connections open
    /// and answers nothing.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running server");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Records every command the server runs from now on (`redis-cli monitor`).
    pub fn monitor(&self) -> Monitor {
        let path = self.dir.path().join(format!("monitor-{}.log", free_port()));
        let file = std::fs::File::create(&path).expect("a monitor log");
        let child = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "monitor"])
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli runs");
        let start = Instant::now();
        // `OK` comes once the server has taken the monitor on.
        while !std::fs::read_to_string(&path).is_ok_and(|s| s.starts_with("OK")) {
            assert!(
                start.elapsed() < DEADLINE,
                "redis-cli monitor did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Monitor { child, path }
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

/// A running `redis-cli monitor`.
pub struct Monitor {
    child: Child,
    path: PathBuf,
}

impl Monitor {
    /// Stops it and returns what it saw.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Embedded,
    Redis,
    /// A three-primary Redis Cluster started for the test.
    Cluster,
    /// A primary, a replica and three sentinels started for the test; writes wait for the
    /// replica (`store.min_replicas_ack = 1`).
    Sentinel,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub registry: std::sync::Arc<siteban::registry::Registry>,
    /// The server's rate limits and long-poll cap.
    pub limits: std::sync::Arc<siteban::api::limits::Limits>,
    /// The DNS listener's address, when the test turned it on.
    pub dns_address: Option<std::net::SocketAddr>,
    handle: actix_web::dev::ServerHandle,
    pub data_dir: TempDir,
    /// Held so the test's Redis (a server, a cluster or a sentinel group) lives as long as
    /// the app.
    pub _redis: Option<Box<dyn std::any::Any + Send + Sync>>,
}

pub fn test_settings(store: Store, data_dir: &Path, redis: Option<&RedisServer>) -> Settings {
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.workers = 1;
    settings.store.path = data_dir.to_path_buf();
    settings.auth.admin_token = Some(format!("admin-{}", siteban::auth::new_token()));
    settings.index.follow_block_ms = 1000;
    // Tests drive a node flat out; the ones about rate limits turn them on.
    settings.limits.rate = siteban::settings::RateSettings::unlimited();
    // No DNS server is reachable from the tests unless one is started: locating tests turn
    // this on with their own server. Delivery is made fast so that waits stay short.
    settings.locate.on_listing = false;
    // Explicit lookups go to a loopback port where nothing answers, and fail fast.
    settings.locate.nameservers = vec!["127.0.0.1:9".into()];
    settings.locate.timeout_ms = 200;
    settings.locate.attempts = 1;
    settings.locate.listing_budget_ms = 500;
    settings.locate.backoff_base_ms = 50;
    settings.locate.backoff_max_ms = 400;
    settings.locate.poll_interval_ms = 20;
    settings.notices.poll_interval_ms = 20;
    settings.notices.backoff_base_ms = 50;
    settings.notices.backoff_max_ms = 400;
    settings.notices.sweep_interval_ms = 100;
    match store {
        Store::Embedded => settings.store.backend = Backend::Embedded,
        Store::Redis => {
            settings.store.backend = Backend::Redis;
            settings.store.redis_url = redis.expect("a redis server").url();
        }
        // The deployment's own settings are set by `spawn_app_with`.
        Store::Cluster | Store::Sentinel => settings.store.backend = Backend::Redis,
    }
    settings
}

pub async fn spawn_app(store: Store) -> TestApp {
    spawn_app_with(store, |_| {}).await
}

pub async fn spawn_app_with(store: Store, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let redis = (store == Store::Redis).then(RedisServer::start);
    let data_dir = tempfile::tempdir().expect("a temp dir");
    let mut settings = test_settings(store, data_dir.path(), redis.as_ref());
    let mut held: Option<Box<dyn std::any::Any + Send + Sync>> =
        redis.map(|r| Box::new(r) as Box<dyn std::any::Any + Send + Sync>);
    match store {
        Store::Cluster => {
            let cluster = crate::topology::RedisCluster::start(false);
            settings.store.redis_cluster = cluster.urls();
            held = Some(Box::new(cluster));
        }
        Store::Sentinel => {
            let group = crate::topology::SentinelGroup::start(false);
            group.configure(&mut settings);
            settings.store.min_replicas_ack = 1;
            held = Some(Box::new(group));
        }
        Store::Embedded | Store::Redis => {}
    }
    tweak(&mut settings);
    start_app(settings, data_dir, held).await
}

/// Starts the app on a Redis deployment the test started itself and keeps (a cluster it
/// will restart nodes of, a sentinel group it will fail over); `tweak` points the settings
/// at it.
pub async fn spawn_app_on_redis(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("a temp dir");
    let mut settings = test_settings(Store::Cluster, data_dir.path(), None);
    tweak(&mut settings);
    start_app(settings, data_dir, None).await
}

async fn start_app(
    settings: Settings,
    data_dir: TempDir,
    held: Option<Box<dyn std::any::Any + Send + Sync>>,
) -> TestApp {
    let admin_token = settings.auth.admin_token.clone().unwrap();
    let app = Application::build(settings).await.expect("the app starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let registry = app.registry();
    let limits = app.limits();
    let dns_address = app.dns_address();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: client(),
        admin_token,
        registry,
        limits,
        dns_address,
        handle,
        data_dir,
        _redis: held,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

/// A decision dated in the past, valid under the API's rules.
pub fn decision(n: u32) -> Value {
    json!({
        "number": format!("京市监处罚〔2024〕{n}号"),
        "authority": "北京市市场监督管理局",
        "date": "2024-05-01"
    })
}

pub fn entry_body(domain: &str) -> Value {
    json!({
        "domain": domain,
        "scope": "subtree",
        "category": "counterfeit_goods",
        "reason": "sold counterfeit goods under a forged business identity",
        "decision": decision(123),
    })
}

pub fn lift_body() -> Value {
    json!({
        "reason": "the operator complied",
        "document": {"number": "京市监撤〔2024〕7号", "authority": "北京市市场监督管理局", "date": "2024-06-01"}
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A key of `role`; provider roles get a provider of their own, without a webhook.
    pub async fn create_key(&self, role: &str, province: Option<&str>) -> String {
        let mut body = json!({"name": format!("test {role}"), "role": role});
        if let Some(p) = province {
            body["province"] = json!(p);
        }
        let kind = match role {
            "access_provider" => Some("access"),
            "dns_provider" => Some("dns"),
            _ => None,
        };
        if let Some(kind) = kind {
            let provider = self
                .create_provider(&json!({"name": format!("test {kind} provider"), "kind": kind}))
                .await;
            body["provider_id"] = provider["id"].clone();
        }
        let response = self
            .client
            .post(self.url("/v1/keys"))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect(response, 201, &format!("creating a {role} key")).await["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Registers a provider and returns the answer (with its one-time `webhook_secret`).
    pub async fn create_provider(&self, body: &Value) -> Value {
        let response = self.post(&self.admin_token, "/v1/providers", body).await;
        assert_eq!(response.status(), 201, "creating provider {body}");
        response.json().await.unwrap()
    }

    /// A key bound to `provider_id`, of the role its kind calls for.
    pub async fn provider_key(&self, provider: &Value) -> String {
        let role = match provider["kind"].as_str() {
            Some("dns") => "dns_provider",
            _ => "access_provider",
        };
        let body = json!({"name": "provider key", "role": role, "provider_id": provider["id"]});
        let response = self.post(&self.admin_token, "/v1/keys", &body).await;
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn list(&self, token: &str, domain: &str) -> reqwest::Response {
        self.post(token, "/v1/entries", &entry_body(domain)).await
    }

    /// Lists `domain` and expects `201`; a failure shows the answer.
    pub async fn listed(&self, token: &str, domain: &str) -> Value {
        expect(
            self.list(token, domain).await,
            201,
            &format!("listing {domain}"),
        )
        .await
    }

    pub async fn lift(&self, token: &str, domain: &str) -> reqwest::Response {
        self.post(token, &format!("/v1/entries/{domain}/lift"), &lift_body())
            .await
    }

    pub async fn check(&self, token: &str, domain: &str) -> Value {
        let response = self
            .client
            .get(self.url("/v1/check"))
            .query(&[("domain", domain)])
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "check of {domain}");
        response.json().await.unwrap()
    }

    pub async fn feed(&self, token: &str, query: &str) -> Value {
        let response = self.get(token, &format!("/v1/feed?{query}")).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// Rate limits off, as in the in-process tests.
pub const UNLIMITED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/unlimited.toml");

/// A `siteban serve` process, configured through the environment as an operator would.
pub struct Node {
    pub port: u16,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Node {
    pub fn start(env: &[(&str, String)], log: PathBuf) -> Node {
        Node::start_at(free_port(), "serve", UNLIMITED.as_ref(), env, log)
    }

    /// `siteban <command> --config <config>` listening on `port`, its standard error appended
    /// to `log` (so that a restart keeps what came before).
    pub fn start_at(
        port: u16,
        command: &str,
        config: &Path,
        env: &[(&str, String)],
        log: PathBuf,
    ) -> Node {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_siteban"))
            .arg(command)
            .arg("--config")
            .arg(config)
            .env("SITEBAN__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("SITEBAN__SERVER__WORKERS", "1")
            .env("SITEBAN__INDEX__FOLLOW_BLOCK_MS", "1000")
            .env("SITEBAN__LOCATE__ON_LISTING", "false")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("the siteban binary starts");
        Node {
            port,
            child: Some(child),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn wait_ready(&self, client: &reqwest::Client) {
        let url = self.url("/readyz");
        let log = self.log.clone();
        let start = Instant::now();
        loop {
            if let Ok(r) = client.get(&url).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "node did not become ready: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process has exited (a start that failed, for one).
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|child| child.try_wait().ok().flatten().is_some())
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether the node answers `domain` as listed to `token`; `None` if it does not answer 200.
pub async fn listed(
    client: &reqwest::Client,
    node: &Node,
    token: &str,
    domain: &str,
) -> Option<bool> {
    let response = client
        .get(node.url("/v1/check"))
        .query(&[("domain", domain)])
        .bearer_auth(token)
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    response.json::<Value>().await.ok()?["listed"].as_bool()
}

/// The body of `response`, after asserting its status; a failure shows what came back.
pub async fn expect(response: reqwest::Response, status: u16, what: &str) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what}: answered {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}
