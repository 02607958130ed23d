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
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder, TracingLogger};

use crate::api::limits::Limits;
use crate::audit::Refusals;
use crate::auth::{Authenticator, new_token};
use crate::delivery::Notices;
use crate::delivery::locating::run_locating;
use crate::delivery::worker::run_delivery;
use crate::dns::DnsServer;
use crate::index::Index;
use crate::metrics::Metrics;
use crate::registry::log::{run_log_keeper, run_log_relay, run_witnessing};
use crate::registry::{
    FollowerHealth, Registry, follow, run_announcer, run_expiry_sweeper, run_overdue_sweeper,
    run_session_sweeper,
};
use crate::settings::{Backend, Settings};
use crate::store::Store;
use crate::store::embedded::EmbeddedStore;
use crate::store::mirror::MirrorStore;
use crate::store::redis::{self as redis_store, RedisStore};

pub struct Application {
    port: u16,
    server: Server,
    registry: Arc<Registry>,
    limits: Arc<Limits>,
    shutdown: watch::Sender<bool>,
    dns: Option<DnsServer>,
    /// The thread of delivery and locating, joined at shutdown.
    background: Option<std::thread::JoinHandle<()>>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let mirror = settings.mirror.enabled();
        // A mirror has no administrator: its own keys come from its settings.
        let (store, admin_token): (Arc<dyn Store>, _) = if mirror {
            (Arc::new(MirrorStore::new(&settings)?), None)
        } else {
            (open_store(&settings).await?, Some(admin_token(&settings)?))
        };
        let registry = Arc::new(build_registry(&settings, store, admin_token.as_deref())?);
        registry.bootstrap().await.context(if mirror {
            "cannot load the index: no local copy, and the upstream did not give its snapshot"
        } else {
            "cannot load the index from the store"
        })?;
        if !mirror {
            crate::registry::log::open(&registry)
                .await
                .context("cannot open the transparency log")?;
        }
        let limits = Arc::new(Limits::new(
            &settings.limits,
            registry.metrics.rate_limited.clone(),
        ));

        let (shutdown, shutdown_rx) = watch::channel(false);
        let refusal_interval = Duration::from_secs(settings.limits.refusal_audit_seconds);
        let refusals = Arc::new(Refusals::new(refusal_interval));
        tokio::spawn(follow(Arc::clone(&registry), shutdown_rx.clone()));
        tokio::spawn(housekeeping(Arc::clone(&limits), shutdown_rx.clone()));
        let background = if mirror {
            tokio::spawn(keep_copy(Arc::clone(&registry), shutdown_rx.clone()));
            tokio::spawn(run_log_relay(Arc::clone(&registry), shutdown_rx.clone()));
            None
        } else {
            spawn_registry_tasks(&registry, &refusals, shutdown_rx.clone())
        };

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
        let limit_data = web::Data::from(Arc::clone(&limits));
        let refusal_data = web::Data::from(refusals);
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let server = HttpServer::new(move || {
            let app = App::new()
                .app_data(data.clone())
                .app_data(limit_data.clone())
                .app_data(refusal_data.clone())
                .wrap_fn(observe)
                .wrap(TracingLogger::<RequestSpan>::new());
            if mirror {
                app.configure(crate::api::mirror_routes)
                    .default_service(web::to(crate::api::mirror_refusal))
            } else {
                app.configure(crate::console::routes)
                    .configure(crate::api::routes)
                    // After the API's routes, so that this, not the API's, answers unknown
                    // paths.
                    .default_service(web::to(crate::console::fallback))
            }
        })
        .workers(workers)
        .client_request_timeout(Duration::from_millis(settings.limits.header_timeout_ms))
        .client_disconnect_timeout(Duration::from_secs(1))
        .shutdown_timeout(settings.server.shutdown_grace_seconds)
        .disable_signals();
        let server = match tls_config(&settings)? {
            Some(tls) => server.listen_rustls_0_23(listener, tls)?,
            None => server.listen(listener)?,
        }
        .run();
        tracing::info!(
            port,
            backend = ?settings.store.backend,
            mirror,
            tls = settings.server.tls.cert_path.is_some(),
            "siteban serving"
        );
        Ok(Application {
            port,
            server,
            registry,
            limits,
            shutdown,
            dns,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// The server's rate limits and long-poll cap.
    pub fn limits(&self) -> Arc<Limits> {
        Arc::clone(&self.limits)
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
        if let Some(background) = self.background {
            // The workers stop at the signal (sends in flight are retried after their lease);
            // joined here, they have let the store go before the process ends.
            let _ = tokio::task::spawn_blocking(move || background.join()).await;
        }
        if self.registry.settings.mirror.enabled() {
            write_copy(&self.registry).await;
        }
        if let Some(dns) = self.dns {
            // Joining the listener's thread blocks; do it off the runtime's own threads.
            let _ = tokio::task::spawn_blocking(move || dns.stop()).await;
        }
        result
    }
}

/// A node's registry on `store`, not yet loaded: its index empty, its key cache holding only
/// the bootstrap admin token (when given), its notice service ready.
pub fn build_registry(
    settings: &Settings,
    store: Arc<dyn Store>,
    admin_token: Option<&str>,
) -> anyhow::Result<Registry> {
    let metrics = Arc::new(Metrics::new());
    let notices = Notices::new(
        Arc::clone(&store),
        settings,
        &metrics,
        crate::api::notices::webhook_body,
    )
    .context("cannot start the notice service")?;
    Ok(Registry {
        store,
        index: Index::new(settings.index.overlay_max),
        auth: Arc::new(if settings.mirror.enabled() && settings.mirror.open {
            Authenticator::new(admin_token).open_to_all()
        } else {
            Authenticator::new(admin_token)
        }),
        metrics,
        notices: Arc::new(notices),
        configured_protection: settings
            .protection
            .names
            .iter()
            .filter_map(|n| crate::domain::DomainName::parse(n).ok())
            .collect(),
        settings: settings.clone(),
        health: FollowerHealth::new(),
        inbox_wake: tokio::sync::Notify::new(),
        recent: crate::index::recent::Recent::new(crate::registry::RECENT_EVENTS),
        log: std::sync::OnceLock::new(),
    })
}

/// What only a registry node runs beside serving: audit of refused requests, the one-time
/// index backfills, notice delivery and locating, the sweepers and the inbox announcer. Answers
/// the thread of delivery and locating, when it runs.
fn spawn_registry_tasks(
    registry: &Arc<Registry>,
    refusals: &Arc<Refusals>,
    shutdown_rx: watch::Receiver<bool>,
) -> Option<std::thread::JoinHandle<()>> {
    let settings = &registry.settings;
    tokio::spawn(flush_refusals(
        Arc::clone(registry),
        Arc::clone(refusals),
        Duration::from_secs(settings.limits.refusal_audit_seconds),
        shutdown_rx.clone(),
    ));
    tokio::spawn(run_log_keeper(Arc::clone(registry), shutdown_rx.clone()));
    tokio::spawn(run_witnessing(Arc::clone(registry), shutdown_rx.clone()));
    let node = Arc::clone(registry);
    tokio::spawn(async move {
        backfill(
            node.index_named_documents(),
            "documents named by older records indexed",
            "cannot index the documents older records name",
        )
        .await;
        backfill(
            node.index_entry_notices(),
            "older notices indexed by entry",
            "cannot index older notices by entry",
        )
        .await;
        backfill(
            node.give_older_entries_locate_jobs(),
            "older entries given locate jobs",
            "cannot give older entries locate jobs",
        )
        .await;
    });
    let background = settings.notices.deliver.then(|| {
        spawn_background(
            Arc::clone(&registry.notices),
            settings.notices.background_nice,
            shutdown_rx.clone(),
        )
    });
    if settings.notices.deliver {
        tokio::spawn(run_overdue_sweeper(
            Arc::clone(registry),
            shutdown_rx.clone(),
        ));
        tokio::spawn(run_announcer(Arc::clone(registry), shutdown_rx.clone()));
    }
    tokio::spawn(run_session_sweeper(
        Arc::clone(registry),
        shutdown_rx.clone(),
    ));
    if settings.cases.expire {
        tokio::spawn(run_expiry_sweeper(
            Arc::clone(registry),
            shutdown_rx.clone(),
        ));
    }
    background.flatten()
}

/// Runs the delivery and locate workers on a thread of their own with its own runtime, at the
/// nice value `nice`: a burst of lookups and webhooks then takes only the CPU that serving
/// listings, checks and transfers leaves, and catches up after. The thread ends with the
/// workers, at shutdown or when the application is dropped; its handle is for joining it.
fn spawn_background(
    notices: Arc<Notices>,
    nice: u8,
    shutdown: watch::Receiver<bool>,
) -> Option<std::thread::JoinHandle<()>> {
    let (thread_notices, thread_shutdown) = (Arc::clone(&notices), shutdown.clone());
    let started = std::thread::Builder::new()
        .name("siteban-background".into())
        .spawn(move || {
            lower_priority(nice);
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name("siteban-background")
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the background runtime: no notice is delivered and no site located on this node");
                    return;
                }
            };
            runtime.block_on(async move {
                tokio::join!(
                    run_delivery(Arc::clone(&thread_notices), thread_shutdown.clone()),
                    run_locating(thread_notices, thread_shutdown),
                );
            });
        });
    match started {
        Ok(thread) => Some(thread),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the background thread; the workers run on the main runtime");
            tokio::spawn(run_delivery(Arc::clone(&notices), shutdown.clone()));
            tokio::spawn(run_locating(notices, shutdown));
            None
        }
    }
}

/// Sets the calling thread's nice value (threads it starts inherit it). On Linux the nice
/// value belongs to the thread, not the process.
fn lower_priority(nice: u8) {
    if nice == 0 {
        return;
    }
    let thread = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(thread), i32::from(nice)) {
        tracing::warn!(error = %e, nice, "cannot lower the background thread's priority");
    }
}

/// Keeps a mirror's local copy: rewritten every `mirror.save_seconds` when the set changed
/// (and once more at shutdown, by `Application::run_until_stopped`).
async fn keep_copy(registry: Arc<Registry>, mut shutdown: watch::Receiver<bool>) {
    let period = Duration::from_secs(registry.settings.mirror.save_seconds);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut saved = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        let seq = registry.index.seq();
        if saved != Some(seq) && write_copy(&registry).await {
            saved = Some(seq);
        }
    }
}

/// Writes a mirror's local copy from one view of the index; returns whether it was written.
async fn write_copy(registry: &Registry) -> bool {
    let view = registry.index.view();
    let seq = view.seq();
    let path = crate::store::mirror::copy_path(&registry.settings);
    let target = path.clone();
    let written = tokio::task::spawn_blocking(move || {
        crate::store::mirror::save_copy(&target, |out| {
            crate::index::snapshot::write_json(out, &view)
        })
    })
    .await;
    match written {
        Ok(Ok(())) => {
            tracing::debug!(seq, path = %path.display(), "local copy saved");
            true
        }
        Ok(Err(e)) => {
            tracing::error!(path = %path.display(), error = %e, "cannot save the mirror's local copy");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "saving the mirror's local copy failed");
            false
        }
    }
}

/// Runs a one-time backfill of an older store beside serving (a store written by this version
/// has nothing to do); `done` says what `count` things were, and a failure is tried again at
/// the next start.
async fn backfill(
    work: impl std::future::Future<Output = crate::registry::RegistryResult<usize>>,
    done: &'static str,
    failed: &'static str,
) {
    match work.await {
        Ok(count) => tracing::info!(count, "{done}"),
        Err(e) => tracing::warn!(error = %e, "{failed}; the next start tries again"),
    }
}

/// The rustls server configuration when `server.tls` is set, with the ring provider.
fn tls_config(settings: &Settings) -> anyhow::Result<Option<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert_path), Some(key_path)) = (
        &settings.server.tls.cert_path,
        &settings.server.tls.key_path,
    ) else {
        return Ok(None);
    };
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "cannot read certificates from {} (server.tls.cert_path)",
                cert_path.display()
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(key_path).with_context(|| {
        format!(
            "cannot read the private key from {} (server.tls.key_path)",
            key_path.display()
        )
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the TLS certificate and key do not fit together")?;
    Ok(Some(config))
}

/// Periodic upkeep until shutdown: forgetting idle rate-limit keys.
async fn housekeeping(limits: Arc<Limits>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => limits.housekeeping(),
        }
    }
}

/// Counts and times every request by route pattern, writes the audit record of state-changing
/// requests, and returns the request id.
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
    let method = req.method().clone();
    let request_id = req.extensions().get::<RequestId>().copied();
    let registry = req.app_data::<web::Data<Registry>>().cloned();
    let refusals = req.app_data::<web::Data<Refusals>>().cloned();
    let start = Instant::now();
    let response = srv.call(req);
    async move {
        let mut response = response.await?;
        let route = route(&response);
        let audited = crate::console::audit_action(method.as_str(), &route)
            .unwrap_or_else(|| crate::api::audit_action(method.as_str(), &route));
        if let (Some(registry), Some(action)) = (&registry, audited) {
            audit(
                registry,
                refusals.as_ref().map(|r| r.get_ref()),
                &response,
                action,
                request_id,
            )
            .await;
        }
        if let Some(metrics) = registry.as_ref().map(|r| &r.metrics) {
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
        if let Some(registry) = &registry
            && crate::api::carries_seq(&route)
            && !response.headers().contains_key(crate::api::SEQ_HEADER)
        {
            response.headers_mut().insert(
                crate::api::SEQ_HEADER,
                actix_web::http::header::HeaderValue::from(registry.index.seq()),
            );
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

/// The route pattern a request matched, `unmatched` for none. Read once routing is done, it
/// is found from the route's position, not searched for among every route; and it is the
/// route actix took, on the decoded path, so that an encoded path is counted and audited as
/// the route it reached.
fn route<B>(response: &actix_web::dev::ServiceResponse<B>) -> String {
    let request = response.request();
    // Tiles are served by their scope's default service, which names no pattern: actix would
    // search every route for one.
    if request.path().starts_with(crate::api::log::TILE_PATHS) {
        return crate::api::log::TILE_ROUTE.into();
    }
    request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into())
}

/// Every request's log span: tracing-actix-web's own, with the request id, made unless no
/// subscriber takes anything at `info` or finer. Its fields (the route among them, which
/// before routing is a search through every route) then cost nothing on a node that logs
/// warnings alone.
struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        if tracing::level_filters::LevelFilter::current() >= tracing::Level::INFO {
            DefaultRootSpanBuilder::on_request_start(request)
        } else {
            tracing::Span::none()
        }
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        if !span.is_disabled() {
            DefaultRootSpanBuilder::on_request_end(span, outcome);
        }
    }
}

/// Appends the audit record of a state-changing request made with a valid token. The answer
/// waits for it, so a client that got its answer knows the request is on record; when the
/// record cannot be written the answer still goes out (the write, if any, is durable) and the
/// failure is logged and counted.
async fn audit<B>(
    registry: &Registry,
    refusals: Option<&Refusals>,
    response: &actix_web::dev::ServiceResponse<B>,
    action: String,
    request_id: Option<RequestId>,
) {
    let request = response.request();
    let Some(principal) = request
        .extensions()
        .get::<Arc<crate::auth::Principal>>()
        .cloned()
    else {
        return;
    };
    let note = request
        .extensions()
        .get::<crate::api::AuditNote>()
        .cloned()
        .unwrap_or_default();
    let status = response.status();
    let outcome = match response
        .response()
        .extensions()
        .get::<crate::api::error::ErrorCode>()
    {
        Some(code) => code.0.to_string(),
        None if status.is_success() => "ok".to_string(),
        None => "error".to_string(),
    };
    let event = crate::audit::AuditEvent {
        at: crate::model::now(),
        actor: principal.actor(),
        address: request
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        method: request.method().to_string(),
        path: request.path().to_string(),
        action,
        target: note.target,
        status: status.as_u16(),
        outcome,
        request_id: request_id.map(|id| id.to_string()).unwrap_or_default(),
        detail: note.detail,
        repeated: 0,
    };
    let events = match refusals {
        Some(refusals) if status.is_client_error() => refusals.admit(event, Instant::now()),
        _ => vec![event],
    };
    append_audit(registry, events).await;
}

/// Appends audit records in order; a failure is logged and counted, and the answer goes out.
async fn append_audit(registry: &Registry, events: Vec<crate::audit::AuditEvent>) {
    for event in events {
        if let Err(e) = registry.store.append_audit(event).await {
            registry.metrics.audit_failures.inc();
            tracing::error!(error = %e, "cannot write the audit record of a request");
        }
    }
}

/// Writes the counts of coalesced refusals as their intervals end, and all of them at
/// shutdown.
async fn flush_refusals(
    registry: Arc<Registry>,
    refusals: Arc<Refusals>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
                append_audit(&registry, refusals.ended(far)).await;
                return;
            }
            _ = tick.tick() => append_audit(&registry, refusals.ended(Instant::now())).await,
        }
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
        Backend::Redis => {
            let store = &settings.store;
            let target = store.redis_target()?;
            let timeout = Duration::from_millis(store.redis_timeout_ms);
            let options = redis_store::Options {
                timeout,
                response_timeout: timeout,
                ack: (store.min_replicas_ack > 0).then(|| redis_store::Ack {
                    replicas: store.min_replicas_ack,
                    timeout: Duration::from_millis(store.replica_ack_timeout_ms),
                }),
            };
            let which = match target {
                redis_store::Target::Standalone(_) => "store.redis_url",
                redis_store::Target::Cluster(_) => "store.redis_cluster",
                redis_store::Target::Sentinel { .. } => "store.redis_sentinels",
            };
            Arc::new(
                RedisStore::connect(target, options, settings.feed.retention)
                    .await
                    .with_context(|| format!("cannot connect to the redis store ({which})"))?,
            )
        }
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
    let token = new_token();
    write_secret(&path, &token)?;
    tracing::info!(path = %path.display(), "admin token generated: read it from this file");
    Ok(token)
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
