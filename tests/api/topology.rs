//! Redis deployments beyond one server, started by the tests as real processes on free
//! loopback ports: a three-primary Redis Cluster (`--cluster-enabled yes`, joined with
//! `redis-cli --cluster create`) and a primary with a replica watched by three sentinels
//! (`redis-server <conf> --sentinel`). Every wait has a deadline and names what it waited for.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use siteban::settings::Settings;
use tempfile::TempDir;

use crate::helpers::{DEADLINE, RedisServer, free_port};

/// The name the sentinels know the primary by.
pub const MASTER_NAME: &str = "siteban";

/// Polls a synchronous condition until it holds or the deadline passes.
pub fn wait_until(deadline: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    cmd.query(&mut conn)
}

/// Three primaries, no replicas, every slot assigned.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the nodes and joins them; with `aof`, every write is fsynced before it is
    /// answered, so a restarted primary comes back with everything it acknowledged.
    pub fn start(aof: bool) -> RedisCluster {
        RedisCluster::start_nodes(aof, 0)
    }

    /// Three primaries with `replicas` replicas each; the first three nodes start as the
    /// primaries.
    pub fn start_nodes(aof: bool, replicas: usize) -> RedisCluster {
        let args: Vec<String> = ["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let nodes: Vec<RedisServer> = (0..3 * (1 + replicas))
            .map(|_| RedisServer::start_args(aof, &args))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-cli ({e}); install redis-tools (scripts/test does)")
            });
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        cluster
    }

    /// Waits until every node reports the cluster healthy.
    pub fn wait_ok(&self) {
        self.wait_ok_without(None);
    }

    /// Waits until every node but `dead` reports the cluster healthy (and, with replicas,
    /// until each has its replication link up).
    pub fn wait_ok_without(&self, dead: Option<usize>) {
        wait_until(
            DEADLINE * 2,
            "every cluster node to report cluster_state:ok",
            || {
                self.nodes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != dead)
                    .all(|(_, n)| {
                        let ok = query::<String>(n.port, redis::cmd("CLUSTER").arg("INFO"))
                            .is_ok_and(|info| info.contains("cluster_state:ok"));
                        let linked = query::<String>(n.port, redis::cmd("INFO").arg("replication"))
                            .is_ok_and(|info| {
                                info.contains("role:master")
                                    || info.contains("master_link_status:up")
                            });
                        ok && linked
                    })
            },
        );
    }

    /// Seed URLs for `store.redis_cluster`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect()
    }

    /// The index of the node that serves the `{siteban}` slot: the only one that answers a
    /// read of a key there instead of redirecting.
    pub fn store_owner(&self) -> usize {
        self.serving_node()
            .expect("a node serving the {siteban} slot")
    }

    /// The node serving the `{siteban}` slot, if one does.
    pub fn serving_node(&self) -> Option<usize> {
        self.nodes.iter().position(|n| {
            query::<Option<String>>(n.port, redis::cmd("GET").arg("{siteban}:probe")).is_ok()
        })
    }
}

impl RedisCluster {
    /// Moves the `{siteban}` slot, keys and all, to node `to`, as a resharding does: the
    /// slot is marked importing and migrating, its keys are moved with `MIGRATE` in batches
    /// while clients are redirected (`ASK`, `TRYAGAIN`), then every node is told the new owner.
    pub fn move_store_slot(&self, to: usize) {
        let from = self.store_owner();
        assert_ne!(from, to, "the slot is already on node {to}");
        let (a, b) = (self.nodes[from].port, self.nodes[to].port);
        let slot: u16 =
            query(a, redis::cmd("CLUSTER").arg("KEYSLOT").arg("{siteban}")).expect("KEYSLOT");
        let id = |port| query::<String>(port, redis::cmd("CLUSTER").arg("MYID")).expect("MYID");
        let (id_a, id_b) = (id(a), id(b));
        let setslot = |port, state: &str, node: &str| {
            query::<()>(
                port,
                redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg(state)
                    .arg(node),
            )
            .unwrap_or_else(|e| panic!("CLUSTER SETSLOT {slot} {state} on port {port}: {e}"))
        };
        setslot(b, "IMPORTING", &id_a);
        setslot(a, "MIGRATING", &id_b);
        loop {
            let keys: Vec<Vec<u8>> = query(
                a,
                redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(50),
            )
            .expect("GETKEYSINSLOT");
            if keys.is_empty() {
                break;
            }
            let mut migrate = redis::cmd("MIGRATE");
            migrate
                .arg("127.0.0.1")
                .arg(b)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys);
            query::<()>(a, &migrate).unwrap_or_else(|e| panic!("MIGRATE: {e}"));
        }
        setslot(b, "NODE", &id_b);
        setslot(a, "NODE", &id_b);
        for node in &self.nodes {
            if node.port != a && node.port != b {
                setslot(node.port, "NODE", &id_b);
            }
        }
        wait_until(DEADLINE, "the slot's new owner to serve it", || {
            self.store_owner() == to
        });
    }
}

/// A `redis-server --sentinel` process of the test's own.
pub struct Sentinel {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Sentinel {
    fn start(primary_port: u16) -> Sentinel {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile {dir}/sentinel.log\n\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 500\n\
                 sentinel failover-timeout {MASTER_NAME} 5000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n",
                dir = dir.path().display()
            ),
        )
        .expect("the sentinel config is written");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server --sentinel ({e}); install redis-server")
            });
        let sentinel = Sentinel {
            port,
            dir,
            child: Some(child),
        };
        wait_until(
            DEADLINE,
            &format!("sentinel on port {port} to answer"),
            || query::<String>(port, &redis::cmd("PING")).is_ok(),
        );
        sentinel
    }

    /// The primary this sentinel names now.
    pub fn primary_port(&self) -> Option<u16> {
        query::<Option<(String, u16)>>(
            self.port,
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(MASTER_NAME),
        )
        .ok()
        .flatten()
        .map(|(_, port)| port)
    }

    fn master_field(&self, field: &str) -> Option<String> {
        let fields: Vec<String> = query(
            self.port,
            redis::cmd("SENTINEL").arg("MASTER").arg(MASTER_NAME),
        )
        .ok()?;
        fields
            .chunks(2)
            .find(|kv| kv[0] == field)
            .map(|kv| kv[1].clone())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sentinel.log")).unwrap_or_default()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A primary, one replica and three sentinels with a quorum of two.
pub struct SentinelGroup {
    pub primary: RedisServer,
    pub replica: RedisServer,
    pub sentinels: Vec<Sentinel>,
}

impl SentinelGroup {
    /// Starts the group and waits until the replica is in sync; with `failover_ready`, also
    /// until the sentinels have found each other and the replica, so that they can agree
    /// on a failover.
    pub fn start(failover_ready: bool) -> SentinelGroup {
        SentinelGroup::start_with(failover_ready, false)
    }

    /// Like [`SentinelGroup::start`]; with `aof`, both servers fsync every write to their
    /// append-only files, as a deployment must: a server that restarts empty can hand its
    /// empty data set to the others.
    pub fn start_with(failover_ready: bool, aof: bool) -> SentinelGroup {
        let primary = RedisServer::start_with(aof);
        let replica = RedisServer::start_args(
            aof,
            &[
                "--replicaof".to_string(),
                "127.0.0.1".to_string(),
                primary.port.to_string(),
            ],
        );
        wait_until(DEADLINE, "the replica to sync with the primary", || {
            query::<String>(replica.port, redis::cmd("INFO").arg("replication"))
                .is_ok_and(|info| info.contains("master_link_status:up"))
        });
        let sentinels: Vec<Sentinel> = (0..3).map(|_| Sentinel::start(primary.port)).collect();
        let group = SentinelGroup {
            primary,
            replica,
            sentinels,
        };
        if failover_ready {
            wait_until(
                DEADLINE * 2,
                "the sentinels to discover each other and the replica",
                || {
                    group.sentinels.iter().all(|s| {
                        s.master_field("num-other-sentinels").as_deref() == Some("2")
                            && s.master_field("num-slaves").as_deref() == Some("1")
                    })
                },
            );
        }
        group
    }

    /// Points `settings` at the sentinels.
    pub fn configure(&self, settings: &mut Settings) {
        settings.store.redis_sentinels = self
            .sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port))
            .collect();
        settings.store.redis_master_name = MASTER_NAME.into();
    }

    /// Waits until a majority of the sentinels name `port` as the primary.
    pub fn wait_primary(&self, port: u16) {
        wait_until(
            DEADLINE * 3,
            &format!("the sentinels to name port {port} the primary"),
            || {
                self.sentinels
                    .iter()
                    .filter(|s| s.primary_port() == Some(port))
                    .count()
                    >= 2
            },
        );
    }
}
