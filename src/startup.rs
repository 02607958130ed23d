//! Building and running one node: open the store, load the index and keys, start the feed
//! follower, bind the listener (port 0 works, for tests) and serve until stopped.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::{App, HttpMessage, HttpServer, web};
use anyhow::Context;
use tokio::sync::watch;
use tracing_actix_web::{RequestId, TracingLogger};

use crate::auth::{Authenticator, new_token};
use crate::dns::DnsServer;
use crate::index::Index;
use crate::metrics::Metrics;
use crate::registry::{FollowerHealth, Registry, follow};
use crate::settings::{Backend, Settings};
use crate::store::Store;
use crate::store::embedded::EmbeddedStore;
use crate::store::redis::RedisStore;

pub struct Application {
    port: u16,
    server: Server,
    registry: Arc<Registry>,
    shutdown: watch::Sender<bool>,
    dns: Option<DnsServer>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let admin_token = admin_token(&settings)?;
        let store = open_store(&settings).await?;
        let registry = Arc::new(Registry {
            store,
            index: Index::new(settings.index.overlay_max),
            auth: Arc::new(Authenticator::new(Some(&admin_token))),
            metrics: Arc::new(Metrics::new()),
            settings: settings.clone(),
            health: FollowerHealth::new(),
        });
        registry
            .bootstrap()
            .await
            .context("cannot load the index from the store")?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        tokio::spawn(follow(Arc::clone(&registry), shutdown_rx));

        // The DNS listener binds before the HTTP one, so that a taken DNS port fails the start
        // before anything is served.
        let dns = match settings.dns_listen_addr()? {
            Some(address) => Some(DnsServer::start(Arc::clone(&registry), address)?),
            None => None,
        };

        let listener = TcpListener::bind(settings.listen_addr()?)
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let data = web::Data::from(Arc::clone(&registry));
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap_fn(observe)
                .wrap(TracingLogger::default())
                .configure(crate::api::routes)
        })
        .workers(workers)
        .shutdown_timeout(settings.server.shutdown_grace_seconds)
        .disable_signals()
        .listen(listener)?
        .run();
        tracing::info!(port, backend = ?settings.store.backend, "siteban serving");
        Ok(Application {
            port,
            server,
            registry,
            shutdown,
            dns,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// The DNS listener's address, when `dns.listen` is set.
    pub fn dns_address(&self) -> Option<std::net::SocketAddr> {
        self.dns.as_ref().map(DnsServer::address)
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped through its handle, then stops the follower and the
    /// DNS listener.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        let _ = self.shutdown.send(true);
        if let Some(dns) = self.dns {
            // Joining the listener's thread blocks; do it off the runtime's own threads.
            let _ = tokio::task::spawn_blocking(move || dns.stop()).await;
        }
        result
    }
}

/// Counts and times every request by route pattern, and returns the request id.
fn observe<S, B>(
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>>
+ use<S, B>
where
    S: Service<
            actix_web::dev::ServiceRequest,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
{
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let request_id = req.extensions().get::<RequestId>().copied();
    let metrics = req
        .app_data::<web::Data<Registry>>()
        .map(|r| Arc::clone(&r.metrics));
    let start = Instant::now();
    let response = srv.call(req);
    async move {
        let mut response = response.await?;
        if let Some(metrics) = metrics {
            let status = response.status();
            metrics
                .requests
                .with_label_values(&[route.as_str(), method.as_str(), status.as_str()])
                .inc();
            metrics
                .request_seconds
                .with_label_values(&[route.as_str()])
                .observe(start.elapsed().as_secs_f64());
        }
        if let Some(id) = request_id
            && let Ok(value) = id.to_string().parse()
        {
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("x-request-id"),
                value,
            );
        }
        Ok(response)
    }
}

pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match settings.store.backend {
        Backend::Embedded => {
            let path = settings.store.path.clone();
            let retention = settings.feed.retention;
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&path, retention))
                .await?
                .with_context(|| {
                    format!(
                        "cannot open the embedded store in {}",
                        settings.store.path.display()
                    )
                })?;
            Arc::new(store)
        }
        Backend::Redis => Arc::new(
            RedisStore::connect(
                &settings.store.redis_url,
                Duration::from_millis(settings.store.redis_timeout_ms),
                settings.feed.retention,
            )
            .await
            .context("cannot connect to the redis store (store.redis_url)")?,
        ),
    })
}

/// The bootstrap admin token: `auth.admin_token` when set, else the one kept in
/// `<store.path>/admin_token`, generated (mode 0600) on first start.
fn admin_token(settings: &Settings) -> anyhow::Result<String> {
    if let Some(token) = settings.auth.admin_token.as_ref().filter(|t| !t.is_empty()) {
        return Ok(token.clone());
    }
    let path = settings.store.path.join("admin_token");
    if path.exists() {
        let token = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        tracing::info!(path = %path.display(), "admin token read from file");
        return Ok(token.trim().to_string());
    }
    write_secret(&path, &new_token())?;
    tracing::info!(path = %path.display(), "admin token generated: read it from this file");
    Ok(std::fs::read_to_string(&path)?.trim().to_string())
}

fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{secret}")?;
    file.sync_all()?;
    Ok(())
}

/// Fetches `url` (plain `http://host:port/path`) and returns the status code, for the
/// container health check; the runtime image has no HTTP client of its own.
pub fn probe(url: &str) -> anyhow::Result<u16> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .context("only http:// URLs can be probed")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let address = std::net::ToSocketAddrs::to_socket_addrs(authority)?
        .next()
        .context("the URL names no address")?;
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n")?;
    let mut head = [0u8; 32];
    let n = stream.read(&mut head)?;
    let line = std::str::from_utf8(&head[..n]).unwrap_or_default();
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("not an HTTP answer")
}
