//! Connections to the three Redis deployments: one server (`store.redis_url`), a Cluster
//! (`store.redis_cluster`) and a primary found through Sentinel (`store.redis_sentinels`,
//! `store.redis_master_name`). [`Conn`] is cheap to clone and implements
//! `redis::aio::ConnectionLike`, so the store sends every command and script through it
//! unchanged; this module alone knows where a command goes, when to reconnect, and how a write
//! waits for replicas (`store.min_replicas_ack`). Keys are built in `keys.rs` and scripts
//! written in `scripts.rs` and beside the data they write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, Pipeline,
    RedisError, RedisFuture, RedisResult, RetryMethod, ServerErrorKind, Value,
};

/// Where the store lives: the deployment the settings name, its URLs parsed there
/// ([`crate::settings::StoreSettings::redis_target`]).
pub use crate::settings::RedisTarget as Target;

/// How long to wait for Redis, and what a write waits for before it counts as done.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Connect timeout (of the store and of each sentinel).
    pub timeout: Duration,
    /// Response timeout of every command.
    pub response_timeout: Duration,
    /// `WAIT <replicas> <timeout>` after every write, when set.
    pub ack: Option<Ack>,
}

#[derive(Clone, Copy, Debug)]
pub struct Ack {
    pub replicas: u32,
    pub timeout: Duration,
}

/// A connection to the store's primary, whichever the deployment. Clones share it.
#[derive(Clone)]
pub struct Conn {
    inner: Arc<Inner>,
    /// What a write through this handle waits for (`Conn::unacknowledged` waits for none).
    ack: Option<Ack>,
}

struct Inner {
    kind: Kind,
    db: i64,
}

enum Kind {
    /// One server, or the primary named by the sentinels: one multiplexed connection, dropped
    /// on a connection error or a `READONLY` answer and dialled afresh (re-asking the
    /// sentinels) by the next command. The `redis` crate resolves a Sentinel primary only when
    /// it connects and never follows a failover by itself.
    Direct(Box<Direct>),
    /// The Cluster client, which follows `MOVED`/`ASK` and reconnects by itself. Every key of
    /// the store shares one hash tag, so every command is routed to that slot's primary
    /// explicitly, keyless ones (`WAIT`, `CONFIG GET`, `SCRIPT LOAD`) included.
    Cluster(ClusterConnection),
}

/// The slot of every key the store uses (they all carry the hash tag `{siteban}`).
fn store_route() -> SingleNodeRoutingInfo {
    SingleNodeRoutingInfo::SpecificNode(Route::with_slot(
        Slot::for_key("{siteban}"),
        SlotAddr::Master,
    ))
}

struct Direct {
    dialer: Arc<Dialer>,
    /// The runtime the store was opened on: every dial runs there, so that the connection's
    /// task lives on it, whichever caller (a request, a worker on its own lower-priority
    /// runtime) finds the connection missing.
    home: Option<tokio::runtime::Handle>,
    state: tokio::sync::Mutex<DirectState>,
}

/// What a dial needs: where the server is and how long to wait.
struct Dialer {
    locate: Locate,
    config: AsyncConnectionConfig,
    timeout: Duration,
}

enum Locate {
    Fixed(ConnectionInfo),
    Sentinel {
        sentinels: Vec<ConnectionInfo>,
        master: String,
        primary: ConnectionInfo,
    },
}

#[derive(Default)]
struct DirectState {
    /// The live connection and its generation, so that an error seen on an old connection
    /// does not drop a newer one.
    current: Option<(u64, MultiplexedConnection)>,
    generation: u64,
    /// After a failed dial, commands fail at once for a short while instead of each dialling
    /// (and each waiting for the connect timeout) in turn.
    failed: Option<(Instant, String)>,
}

/// How long a failed dial is remembered.
const REDIAL_AFTER: Duration = Duration::from_millis(100);

impl Conn {
    /// Connects to `target`; for a Cluster, learns its slots; for Sentinel, asks the sentinels
    /// for the primary.
    pub async fn connect(target: &Target, options: Options) -> RedisResult<Conn> {
        let (kind, db) = match target {
            Target::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes.clone())
                    .connection_timeout(options.timeout)
                    .response_timeout(options.response_timeout)
                    // The client would resend a command whose reply timed out or whose
                    // connection dropped, and a write script that did run would run twice;
                    // `on_cluster` retries only the answers that say nothing ran.
                    .retries(0)
                    .build()?;
                (Kind::Cluster(client.get_async_connection().await?), 0)
            }
            Target::Standalone(info) => (
                Kind::Direct(Box::new(Direct::new(Locate::Fixed(info.clone()), options))),
                info.redis_settings().db(),
            ),
            Target::Sentinel {
                sentinels,
                master,
                primary,
            } => (
                Kind::Direct(Box::new(Direct::new(
                    Locate::Sentinel {
                        sentinels: sentinels.clone(),
                        master: master.clone(),
                        primary: primary.clone(),
                    },
                    options,
                ))),
                primary.redis_settings().db(),
            ),
        };
        let conn = Conn {
            inner: Arc::new(Inner { kind, db }),
            ack: options.ack,
        };
        // Fail at start, with the reason, when the store cannot be reached.
        if let Kind::Direct(direct) = &conn.inner.kind {
            direct.connection().await?;
        }
        Ok(conn)
    }

    /// Logs at start what the primary lacks: an eviction policy other than `noeviction`
    /// (Redis would drop entries when full), or fewer connected replicas than
    /// `store.min_replicas_ack` (every write is answered 503 until they are back).
    pub async fn check_deployment(&mut self) {
        let policy: RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(self)
            .await;
        if let Ok(policy) = policy
            && let Some(policy) = policy.get(1)
            && policy != "noeviction"
        {
            tracing::error!(
                policy = %policy,
                "redis may evict keys when full (maxmemory-policy): entries would silently \
                 disappear; set maxmemory-policy noeviction"
            );
        }
        let Some(ack) = self.ack else { return };
        let info: RedisResult<String> = redis::cmd("INFO")
            .arg("replication")
            .query_async(self)
            .await;
        let connected = info.ok().and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("connected_slaves:"))
                .and_then(|n| n.trim().parse::<u32>().ok())
        });
        match connected {
            Some(n) if n >= ack.replicas => {}
            Some(n) => tracing::error!(
                connected = n,
                required = ack.replicas,
                "the redis primary has fewer replicas than store.min_replicas_ack: every write \
                 will be answered 503 store_unavailable until enough replicas are connected"
            ),
            None => tracing::warn!("cannot read the redis primary's replicas (INFO replication)"),
        }
    }

    async fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
        match self.ack {
            Some(ack) if is_write(cmd) => {
                // The write and its WAIT in one pipeline: the same connection to the same
                // primary, in order, so WAIT counts the replicas that hold this write.
                let mut pipe = redis::pipe();
                pipe.add_command(cmd.clone());
                pipe.add_command(wait_cmd(ack));
                let mut replies = self
                    .send_pipeline(
                        &pipe,
                        Replies {
                            offset: 0,
                            count: 2,
                        },
                    )
                    .await?;
                let waited = replies.pop();
                let reply = replies.pop().unwrap_or(Value::Nil);
                if matches!(reply, Value::ServerError(_)) {
                    // Refused before writing (NOSCRIPT and the like): nothing to wait for.
                    return Ok(reply);
                }
                check_ack(ack, waited)?;
                Ok(reply)
            }
            _ => self.send_command(cmd).await,
        }
    }

    async fn pipeline(&self, pipe: &Pipeline, want: Replies) -> RedisResult<Vec<Value>> {
        let Replies { offset, count } = want;
        let ack = self.ack.filter(|_| pipe.cmd_iter().any(is_write));
        let Some(ack) = ack else {
            return self.send_pipeline(pipe, want).await;
        };
        if pipe.is_transaction() {
            // A WAIT inside MULTI would not wait: it follows the transaction instead.
            let replies = self.send_pipeline(pipe, want).await?;
            let waited = self.send_command(&wait_cmd(ack)).await?;
            check_ack(ack, Some(waited))?;
            return Ok(replies);
        }
        // A pipeline of writes (a batch of notice claims, an import chunk) and its WAIT go out
        // as one pipeline, on one connection to one primary, so that WAIT counts the replicas
        // holding all of it.
        let mut with_wait = pipe.clone();
        with_wait.add_command(wait_cmd(ack));
        let mut replies = self
            .send_pipeline(
                &with_wait,
                Replies {
                    offset,
                    count: count + 1,
                },
            )
            .await?;
        let waited = replies.pop();
        check_ack(ack, waited)?;
        Ok(replies)
    }

    async fn send_pipeline(&self, pipe: &Pipeline, want: Replies) -> RedisResult<Vec<Value>> {
        let Replies { offset, count } = want;
        match &self.inner.kind {
            Kind::Direct(direct) => direct.pipeline(pipe, want).await,
            Kind::Cluster(cluster) => {
                retry_not_run(|| {
                    let (mut cluster, pipe) = (cluster.clone(), pipe.clone());
                    async move {
                        cluster
                            .route_pipeline(pipe, offset, count, store_route())
                            .await
                    }
                })
                .await
            }
        }
    }

    async fn send_command(&self, cmd: &Cmd) -> RedisResult<Value> {
        match &self.inner.kind {
            Kind::Direct(direct) => direct.command(cmd).await,
            Kind::Cluster(cluster) => on_cluster(cluster, cmd).await,
        }
    }
}

/// Sends one command to the primary of the store's slot.
async fn on_cluster(cluster: &ClusterConnection, cmd: &Cmd) -> RedisResult<Value> {
    retry_not_run(|| {
        let (mut cluster, cmd) = (cluster.clone(), cmd.clone());
        async move {
            cluster
                .route_command(
                    cmd,
                    redis::cluster_routing::RoutingInfo::SingleNode(store_route()),
                )
                .await
        }
    })
    .await
}

/// Attempts of a Cluster command whose answers say it did not run.
const CLUSTER_ATTEMPTS: u32 = 6;

/// Sends again, after a growing pause (20 ms doubling, about 0.6 s in all), while the answer
/// says the command did not run: redirected (`MOVED`, `ASK`: the client refreshes its slot map
/// meanwhile), refused for now (`TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `LOADING`), sent to a
/// replica (`READONLY`), or no connection to send it on. A timeout or a dropped connection is
/// not retried: the command may have run, and the caller answers `503` instead.
async fn retry_not_run<T, F, Fut>(mut send: F) -> RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = RedisResult<T>>,
{
    let mut pause = Duration::from_millis(20);
    for _ in 1..CLUSTER_ATTEMPTS {
        match send().await {
            Err(e) if did_not_run(&e) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
    send().await
}

fn did_not_run(e: &RedisError) -> bool {
    matches!(
        e.retry_method(),
        RetryMethod::MovedRedirect
            | RetryMethod::AskRedirect
            | RetryMethod::WaitAndRetry
            | RetryMethod::RefreshSlotsAndRetry
            | RetryMethod::ReconnectFromInitialConnections
    )
}

fn wait_cmd(ack: Ack) -> Cmd {
    let mut cmd = redis::cmd("WAIT");
    cmd.arg(ack.replicas)
        .arg(ack.timeout.as_millis().max(1) as u64);
    cmd
}

/// A `WAIT` answer that falls short of `store.min_replicas_ack` is an error: the write may
/// exist on the primary, but it would not survive the primary's loss, so it is not confirmed.
fn check_ack(ack: Ack, waited: Option<Value>) -> RedisResult<()> {
    match waited {
        Some(Value::Int(n)) if n >= i64::from(ack.replicas) => Ok(()),
        Some(Value::Int(n)) => Err(RedisError::from((
            ErrorKind::Io,
            "write not confirmed",
            format!(
                "{n} of {} replicas acknowledged the write within {} ms (store.min_replicas_ack); \
                 it may still be stored",
                ack.replicas,
                ack.timeout.as_millis()
            ),
        ))),
        other => Err(RedisError::from((
            ErrorKind::Io,
            "write not confirmed",
            format!("WAIT answered {other:?}"),
        ))),
    }
}

/// Whether a command changes data: a script (every script of the store writes, or refuses
/// before writing) or one of the plain writes the store sends.
fn is_write(cmd: &Cmd) -> bool {
    let Some(redis::Arg::Simple(name)) = cmd.args_iter().next() else {
        return false;
    };
    const WRITES: [&[u8]; 14] = [
        b"EVALSHA", b"EVAL", b"FCALL", b"SET", b"SETNX", b"HSET", b"HSETNX", b"HDEL", b"DEL",
        b"XADD", b"INCR", b"ZADD", b"ZREM", b"RPUSH",
    ];
    WRITES.iter().any(|w| name.eq_ignore_ascii_case(w))
}

/// Which replies of a pipeline the caller wants: `count` of them after the first `offset`
/// (redis's `req_packed_commands` arguments; a transaction's are those of its `EXEC`).
#[derive(Debug, Clone, Copy)]
struct Replies {
    offset: usize,
    count: usize,
}

impl Conn {
    /// The same connection, its writes not waiting for replicas: for data the store can
    /// make again from what was acknowledged (the transparency log's tiles, from the feed),
    /// so that a replica that stops answering does not hold other commands behind its
    /// `WAIT`s.
    pub fn unacknowledged(&self) -> Conn {
        Conn {
            inner: Arc::clone(&self.inner),
            ack: None,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { self.command(cmd).await })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move { self.pipeline(pipeline, Replies { offset, count }).await })
    }

    fn get_db(&self) -> i64 {
        self.inner.db
    }
}

impl Dialer {
    async fn dial(&self) -> RedisResult<MultiplexedConnection> {
        match &self.locate {
            Locate::Fixed(info) => {
                Client::open(info.clone())?
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await
            }
            Locate::Sentinel {
                sentinels,
                master,
                primary,
            } => {
                let addr = self.ask_sentinels(sentinels, master).await?;
                let info = primary.clone().set_addr(addr.clone());
                let mut conn = Client::open(info)?
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?;
                // Right after a failover, a sentinel may still name the old primary, now
                // restarted as a replica: only a node that says it is the primary will do.
                let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
                match role.first() {
                    Some(Value::BulkString(r)) if r == b"master" => Ok(conn),
                    _ => Err(RedisError::from((
                        ErrorKind::Io,
                        "not the primary",
                        format!("the sentinels name {addr} as primary of {master}, but it is not"),
                    ))),
                }
            }
        }
    }

    /// Asks every sentinel at once for the primary's address; the address most of those that
    /// answer name wins (the first named among equals). A sentinel that has not yet learned
    /// of a failover names the old primary, which may be back and still call itself primary
    /// until the others turn it into a replica: one stale sentinel must not decide.
    async fn ask_sentinels(
        &self,
        sentinels: &[ConnectionInfo],
        master: &str,
    ) -> RedisResult<ConnectionAddr> {
        let asks = sentinels.iter().map(|sentinel| async move {
            let answer = async {
                let mut conn = Client::open(sentinel.clone())?
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?;
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(master)
                    .query_async::<Option<(String, u16)>>(&mut conn)
                    .await
            };
            match tokio::time::timeout(self.timeout * 2, answer).await {
                Ok(Ok(Some(address))) => Ok(address),
                Ok(Ok(None)) => Err(RedisError::from((
                    ErrorKind::Io,
                    "unknown primary",
                    format!("sentinel {} does not know {master:?}", sentinel.addr()),
                ))),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(RedisError::from((
                    ErrorKind::Io,
                    "sentinel timed out",
                    sentinel.addr().to_string(),
                ))),
            }
        });
        let answers = futures_util::future::join_all(asks).await;
        let named: Vec<&(String, u16)> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
        let votes = |address: &(String, u16)| named.iter().filter(|n| **n == address).count();
        if let Some((host, port)) = named.iter().copied().reduce(|best, next| {
            if votes(next) > votes(best) {
                next
            } else {
                best
            }
        }) {
            return Ok(ConnectionAddr::Tcp(host.clone(), *port));
        }
        Err(answers
            .into_iter()
            .find_map(Result::err)
            .unwrap_or_else(|| RedisError::from((ErrorKind::Io, "no sentinels configured"))))
    }
}

impl Direct {
    fn new(locate: Locate, options: Options) -> Direct {
        Direct {
            dialer: Arc::new(Dialer {
                locate,
                config: AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(options.timeout))
                    .set_response_timeout(Some(options.response_timeout)),
                timeout: options.timeout,
            }),
            home: tokio::runtime::Handle::try_current().ok(),
            state: tokio::sync::Mutex::new(DirectState::default()),
        }
    }

    /// The live connection, dialling (and for Sentinel, locating the primary) when there is
    /// none. The lock makes concurrent commands share one dial.
    async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        let mut state = self.state.lock().await;
        if let Some((generation, conn)) = &state.current {
            return Ok((*generation, conn.clone()));
        }
        if let Some((at, reason)) = &state.failed
            && at.elapsed() < REDIAL_AFTER
        {
            return Err(RedisError::from((
                ErrorKind::Io,
                "store unreachable",
                reason.clone(),
            )));
        }
        let dialled = match &self.home {
            Some(home) => {
                let dialer = Arc::clone(&self.dialer);
                home.spawn(async move { dialer.dial().await })
                    .await
                    .unwrap_or_else(|e| {
                        Err(RedisError::from((
                            ErrorKind::Io,
                            "the dial did not finish",
                            e.to_string(),
                        )))
                    })
            }
            None => self.dialer.dial().await,
        };
        match dialled {
            Ok(conn) => {
                state.generation += 1;
                state.failed = None;
                state.current = Some((state.generation, conn.clone()));
                Ok((state.generation, conn))
            }
            Err(e) => {
                state.failed = Some((Instant::now(), e.to_string()));
                Err(e)
            }
        }
    }

    async fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
        let (generation, mut conn) = self.connection().await?;
        let result = conn.req_packed_command(cmd).await;
        let broken = match &result {
            Err(e) => breaks_connection(e),
            Ok(value) => is_readonly(value),
        };
        if broken {
            self.drop_connection(generation).await;
        }
        result
    }

    async fn pipeline(&self, pipe: &Pipeline, want: Replies) -> RedisResult<Vec<Value>> {
        let Replies { offset, count } = want;
        let (generation, mut conn) = self.connection().await?;
        let result = conn.req_packed_commands(pipe, offset, count).await;
        let broken = match &result {
            Err(e) => breaks_connection(e),
            Ok(values) => values.iter().any(is_readonly),
        };
        if broken {
            self.drop_connection(generation).await;
        }
        result
    }

    async fn drop_connection(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|(g, _)| *g == generation)
        {
            state.current = None;
        }
    }
}

/// Errors after which the connection is not trusted again: I/O, timeouts, a closed
/// connection, or a server that is no longer the primary.
fn breaks_connection(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
        || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
}

fn is_readonly(value: &Value) -> bool {
    matches!(value, Value::ServerError(e) if e.kind() == Some(ServerErrorKind::ReadOnly))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::StoreSettings;

    #[test]
    fn settings_choose_the_deployment() {
        let key = |store: &StoreSettings| match store.redis_target() {
            Err(crate::settings::SettingsError::Invalid { key, .. }) => key,
            other => panic!("{other:?}"),
        };
        let mut store = StoreSettings::default();
        assert!(matches!(store.redis_target(), Ok(Target::Standalone(_))));
        store.redis_cluster = vec!["redis://127.0.0.1:7000".into()];
        assert!(matches!(store.redis_target(), Ok(Target::Cluster(n)) if n.len() == 1));
        store.redis_cluster = vec!["redis://127.0.0.1:7000/2".into(), "tcp://x".into()];
        assert_eq!(
            key(&store),
            "store.redis_cluster",
            "bad URL before database"
        );
        store.redis_cluster = vec!["redis://127.0.0.1:7000/2".into()];
        assert_eq!(key(&store), "store.redis_cluster");
        store.redis_sentinels = vec!["redis://127.0.0.1:26379".into()];
        assert_eq!(key(&store), "store.redis_cluster");
        store.redis_cluster.clear();
        assert_eq!(key(&store), "store.redis_master_name");
        store.redis_master_name = "siteban".into();
        assert!(matches!(store.redis_target(), Ok(Target::Sentinel { .. })));
        store.redis_sentinels = vec!["http://sentinel".into()];
        assert_eq!(key(&store), "store.redis_sentinels");
        store.redis_url = "http://127.0.0.1".into();
        assert_eq!(key(&store), "store.redis_url");
    }

    #[test]
    fn writes_are_told_from_reads() {
        assert!(is_write(redis::cmd("EVALSHA").arg("abc")));
        assert!(is_write(redis::cmd("hsetnx").arg("k")));
        assert!(!is_write(redis::cmd("XREAD").arg("BLOCK")));
        assert!(!is_write(redis::cmd("HSCAN").arg("k")));
    }

    #[test]
    fn a_short_wait_is_an_error_naming_the_setting() {
        let ack = Ack {
            replicas: 1,
            timeout: Duration::from_millis(100),
        };
        assert!(check_ack(ack, Some(Value::Int(1))).is_ok());
        let error = check_ack(ack, Some(Value::Int(0))).unwrap_err().to_string();
        assert!(error.contains("store.min_replicas_ack"), "{error}");
    }
}
