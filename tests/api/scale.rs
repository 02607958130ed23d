//! The store surviving the loss of a server and a resharding: a Cluster primary killed and
//! restarted, and the `{siteban}` slot moved to another primary, during a steady stream of
//! writes and checks; and a Sentinel failover with writes waiting for the replica. In each,
//! checks never fail, writes fail only with `503 store_unavailable` while the store is
//! switching and succeed after it, and every write answered `201` is there afterwards. Also:
//! a Cluster write whose answer times out is not sent again, and writes (single scripts,
//! pipelines, an import) that no replica confirmed are answered `503` and leave no lock behind.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use siteban::store::StoreError;

use crate::helpers::{DEADLINE, RedisServer, TestApp, entry_body, eventually, spawn_app_on_redis};
use crate::topology::{RedisCluster, SentinelGroup, wait_until};

/// These tests start many servers and fail them over on short timers (the sentinels decide
/// within 500 ms): they take turns, so that one test's load cannot set off another's failover.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a stream of writes and a stream of checks met.
#[derive(Default)]
struct Seen {
    /// Domains whose listing was answered `201`.
    acknowledged: Mutex<Vec<String>>,
    /// Listings answered `503 store_unavailable`.
    refused: AtomicUsize,
    /// Any other answer to a listing, or a check that was not `200` and listed.
    wrong: Mutex<Vec<String>>,
    checks: AtomicUsize,
    stop: AtomicBool,
}

impl Seen {
    fn acknowledged(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }
    fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

/// Lists `w<i>.<tag>.example.cn` one after another (a new name each time, so that a write
/// that was refused yet stored cannot turn a later attempt into a conflict) and checks a name
/// listed beforehand, until told to stop.
fn start_traffic(
    app: &TestApp,
    agency: String,
    reader: String,
    listed: String,
    tag: &str,
) -> Arc<Seen> {
    let seen = Arc::new(Seen::default());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let (url, seen_w, client_w, tag) = (
        app.url("/v1/entries"),
        seen.clone(),
        client.clone(),
        tag.to_string(),
    );
    tokio::spawn(async move {
        let mut i = 0;
        while !seen_w.stop.load(Ordering::SeqCst) {
            let domain = format!("w{i}.{tag}.example.cn");
            i += 1;
            let outcome = client_w
                .post(&url)
                .bearer_auth(&agency)
                .json(&entry_body(&domain))
                .send()
                .await;
            match outcome {
                Ok(r) if r.status() == 201 => seen_w.acknowledged.lock().unwrap().push(domain),
                Ok(r) if r.status() == 503 => {
                    let body: Value = r.json().await.unwrap_or_default();
                    if body["error"]["code"] == "store_unavailable" {
                        seen_w.refused.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    } else {
                        seen_w
                            .wrong
                            .lock()
                            .unwrap()
                            .push(format!("{domain}: 503 {body}"));
                    }
                }
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    seen_w
                        .wrong
                        .lock()
                        .unwrap()
                        .push(format!("{domain}: {status} {body}"));
                }
                Err(e) => seen_w.wrong.lock().unwrap().push(format!("{domain}: {e}")),
            }
        }
    });
    let (url, seen_c) = (app.url("/v1/check"), seen.clone());
    tokio::spawn(async move {
        while !seen_c.stop.load(Ordering::SeqCst) {
            let response = client
                .get(&url)
                .query(&[("domain", format!("www.{listed}"))])
                .bearer_auth(&reader)
                .send()
                .await;
            let listed = match response {
                Ok(r) if r.status() == 200 => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["listed"].as_bool()),
                _ => None,
            };
            if listed != Some(true) {
                seen_c
                    .wrong
                    .lock()
                    .unwrap()
                    .push(format!("a check answered {listed:?}"));
            }
            seen_c.checks.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    seen
}

/// Waits for `more` further acknowledged writes.
/// Lists a name, starts [`start_traffic`] around it and waits for 20 acknowledged writes
/// (`what`); returns what the traffic sees and the reader's token for [`settle`].
async fn steady_traffic(app: &TestApp, tag: &str, what: &str) -> (Arc<Seen>, String) {
    let agency = app.create_key("agency", None).await;
    let reader = app.create_key("auditor", None).await;
    app.listed(&agency, "before.example.cn").await;
    let seen = start_traffic(app, agency, reader.clone(), "before.example.cn".into(), tag);
    await_acks(&seen, 20, what).await;
    (seen, reader)
}

/// Waits until a write has been answered `503` (`what`: while the store is switching).
async fn await_refusal(seen: &Seen, what: &str) {
    eventually(DEADLINE * 3, what, || async { seen.refused() > 0 }).await;
}

async fn await_acks(seen: &Seen, more: usize, what: &str) {
    let target = seen.acknowledged() + more;
    eventually(DEADLINE * 3, what, || async {
        seen.acknowledged() >= target
    })
    .await;
}

/// Stops the traffic and checks what it saw: no wrong answer, and every acknowledged write
/// in the store (its history) and in the index (a check).
async fn settle(app: &TestApp, seen: &Seen, reader: &str) {
    seen.stop.store(true, Ordering::SeqCst);
    // Let the last requests in flight finish.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let wrong = seen.wrong.lock().unwrap().clone();
    assert!(wrong.is_empty(), "unexpected answers: {wrong:?}");
    assert!(seen.checks.load(Ordering::SeqCst) > 0, "no check was made");
    let acknowledged = seen.acknowledged.lock().unwrap().clone();
    eprintln!(
        "{} writes acknowledged, {} refused with 503, {} checks",
        acknowledged.len(),
        seen.refused(),
        seen.checks.load(Ordering::SeqCst)
    );
    for domain in &acknowledged {
        let response = app.get(reader, &format!("/v1/entries/{domain}")).await;
        assert_eq!(
            response.status(),
            200,
            "{domain} was acknowledged but is not in the store"
        );
        let entry: Value = response.json().await.unwrap();
        assert!(
            !entry["current"].is_null(),
            "{domain} was acknowledged but is not active"
        );
        assert_eq!(
            app.check(reader, domain).await["listed"],
            true,
            "{domain} in the index"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_primary_restart_during_writes_loses_no_acknowledged_write() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // AOF with fsync on every write: the restarted primary has every write it acknowledged.
    let mut cluster = RedisCluster::start(true);
    let urls = cluster.urls();
    let app = spawn_app_on_redis(|s| s.store.redis_cluster = urls).await;
    let (seen, reader) = steady_traffic(&app, "cluster", "writes before the restart").await;
    let owner = cluster.store_owner();
    cluster.nodes[owner].kill();
    await_refusal(&seen, "a write refused while the slot's primary is down").await;
    cluster.nodes[owner].restart();
    cluster.wait_ok();
    await_acks(&seen, 20, "writes after the restart").await;
    settle(&app, &seen, &reader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_failover_to_a_replica_loses_no_acknowledged_write() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Each primary has a replica; a write is confirmed only once the replica has it, so the
    // replica promoted in place of the killed primary holds every acknowledged write.
    let mut cluster = RedisCluster::start_nodes(false, 1);
    let urls = cluster.urls();
    let app = spawn_app_on_redis(|s| {
        s.store.redis_cluster = urls;
        s.store.min_replicas_ack = 1;
        s.store.replica_ack_timeout_ms = 500;
    })
    .await;
    let (seen, reader) = steady_traffic(&app, "failover", "writes before the failover").await;
    let owner = cluster.store_owner();
    cluster.nodes[owner].kill();
    await_refusal(&seen, "a write refused while the slot has no primary").await;
    let cluster = tokio::task::spawn_blocking(move || {
        wait_until(DEADLINE * 3, "a replica to take the slot over", || {
            cluster.serving_node().is_some_and(|n| n != owner)
        });
        // The promoted replica has no replica of its own, so writes stay unconfirmed (503)
        // until the old primary is back: it rejoins as the new primary's replica.
        cluster.nodes[owner].restart();
        cluster.wait_ok();
        cluster
    })
    .await
    .unwrap();
    await_acks(&seen, 20, "writes after the failover").await;
    settle(&app, &seen, &reader).await;
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_resharding_during_writes_loses_no_acknowledged_write() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cluster = RedisCluster::start(false);
    let urls = cluster.urls();
    let app = spawn_app_on_redis(|s| s.store.redis_cluster = urls).await;
    let (seen, reader) = steady_traffic(&app, "reshard", "writes before the resharding").await;
    let to = (cluster.store_owner() + 1) % cluster.nodes.len();
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.move_store_slot(to);
        cluster
    })
    .await
    .unwrap();
    await_acks(&seen, 20, "writes after the resharding").await;
    assert_eq!(cluster.store_owner(), to);
    settle(&app, &seen, &reader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_write_whose_answer_times_out_is_not_sent_again() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The slot's primary stops answering for longer than `store.redis_timeout_ms`: the write
    // is answered 503 and not sent again behind the caller's back (it may have run, and a
    // second run of its script would answer for the first).
    let cluster = RedisCluster::start(false);
    let urls = cluster.urls();
    let app = spawn_app_on_redis(|s| {
        s.store.redis_cluster = urls;
        s.store.redis_timeout_ms = 300;
    })
    .await;
    let agency = app.create_key("agency", None).await;
    app.listed(&agency, "before.example.cn").await;
    let owner = &cluster.nodes[cluster.store_owner()];
    let monitor = owner.monitor();
    owner.signal("STOP");
    let resume = async {
        // Longer than the timeout, shorter than two: a second try would be answered.
        tokio::time::sleep(Duration::from_millis(450)).await;
        owner.signal("CONT");
    };
    let (response, ()) = tokio::join!(app.list(&agency, "stalled.example.cn"), resume);
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 503, "a write without an answer in time: {body}");
    assert!(body.contains("store_unavailable"), "{body}");
    // The caller may send it again: it gets 201, or 409 when the first one did run; the
    // entry is listed once either way.
    let again = app.list(&agency, "stalled.example.cn").await;
    let status = again.status().as_u16();
    let body = again.text().await.unwrap();
    assert!(
        status == 201 || (status == 409 && body.contains("already_listed")),
        "the listing sent again: {status} {body}"
    );
    let auditor = app.create_key("auditor", None).await;
    let feed = app.feed(&auditor, "after=0&limit=100").await;
    let listings = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["domain"] == "stalled.example.cn")
        .count();
    assert_eq!(listings, 1, "{feed}");
    // One script run for each listing the caller sent, none more.
    let seen = monitor.stop();
    let runs = seen
        .lines()
        .filter(|l| l.contains("\"EVALSHA\"") && l.contains("{siteban}:history:stalled.example.cn"))
        .count();
    assert!(runs <= 2, "the listing script ran {runs} times:\n{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_the_replica_did_not_confirm_are_answered_503() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let primary = RedisServer::start();
    let replica = RedisServer::start_args(
        false,
        &[
            "--replicaof".into(),
            "127.0.0.1".into(),
            primary.port.to_string(),
        ],
    );
    let replica_port = replica.port;
    wait_until(DEADLINE, "the replica to follow the primary", || {
        redis::Client::open(format!("redis://127.0.0.1:{replica_port}"))
            .and_then(|c| c.get_connection())
            .and_then(|mut c| {
                redis::cmd("INFO")
                    .arg("replication")
                    .query::<String>(&mut c)
            })
            .is_ok_and(|info| info.contains("master_link_status:up"))
    });
    let url = primary.url();
    let app = spawn_app_on_redis(|s| {
        s.store.redis_url = url;
        s.store.min_replicas_ack = 1;
        s.store.replica_ack_timeout_ms = 200;
    })
    .await;
    let agency = app.create_key("agency", None).await;
    let telecom = app.create_key("telecom", None).await;
    app.listed(&agency, "confirmed.example.cn").await;
    let recordals = |number: &str, domain: &str| {
        json!({
            "icp_number": number,
            "sponsor_name": "北京甲有限公司",
            "sponsor_code": "91110108551385082Q",
            "domains": [domain],
            "access_provider": "Example Hosting",
            "access_province": "11"
        })
        .to_string()
    };
    let import = |body: String| {
        app.client
            .post(app.url("/v1/recordals/import"))
            .bearer_auth(&telecom)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
    };

    // The replica stops acknowledging: one write (a script) and a pipeline of writes (an
    // import's staged chunk) each wait for it in vain.
    replica.signal("STOP");
    let response = app.list(&agency, "unconfirmed.example.cn").await;
    let (status, body) = (response.status(), response.text().await.unwrap());
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("store_unavailable"), "{body}");
    let entries = siteban::import::parse(entry_body("piped.example.cn").to_string().as_bytes())
        .expect("an entry to import");
    let piped = app.registry.store.import(entries.clone()).await;
    assert!(
        matches!(piped, Err(StoreError::Unavailable(ref m)) if m.contains("replica")),
        "{piped:?}"
    );
    let response = import(recordals("京ICP备40000001号", "jia.example.cn"))
        .await
        .unwrap();
    let (status, body) = (response.status(), response.text().await.unwrap());
    assert_eq!(status, 503, "an import no replica confirmed: {body}");
    // Its writer lock, taken on the primary though unconfirmed, was given back at once
    // rather than left to block every import for the lock's two-minute lease.
    let locks: Vec<String> = redis::Client::open(primary.url())
        .and_then(|c| c.get_connection())
        .and_then(|mut c| {
            redis::cmd("KEYS")
                .arg("{siteban}:records:lock:*")
                .query(&mut c)
        })
        .unwrap();
    assert_eq!(locks, Vec::<String>::new());

    replica.signal("CONT");
    let response = import(recordals("京ICP备40000002号", "yi.example.cn"))
        .await
        .unwrap();
    let (status, body) = (response.status(), response.text().await.unwrap());
    assert_eq!(status, 200, "an import once the replica is back: {body}");
    // The pipelined import, sent again, finds its entry already there or writes it now.
    assert!(app.registry.store.import(entries).await.is_ok());
    app.listed(&agency, "confirmed-again.example.cn").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_during_writes_loses_no_acknowledged_write() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // AOF on both servers, as the deployment guide requires: the old primary comes back with
    // what it had, never as an empty server that a stale reader or a replica could take from.
    let mut group = SentinelGroup::start_with(true, true);
    let app = spawn_app_on_redis(|s| {
        group.configure(s);
        s.store.min_replicas_ack = 1;
        s.store.replica_ack_timeout_ms = 500;
    })
    .await;
    let (seen, reader) = steady_traffic(&app, "sentinel", "writes before the failover").await;
    // SIGKILL the primary: the replica holds every acknowledged write (WAIT 1).
    group.primary.kill();
    await_refusal(&seen, "a write refused during the failover").await;
    let replica = group.replica.port;
    group.wait_primary(replica);
    // The promoted replica has no replica of its own: writes stay unconfirmed (503) until
    // the old primary is back, which the sentinels turn into its replica.
    group.primary.restart();
    await_acks(&seen, 20, "writes after the failover").await;
    let logs: Vec<String> = group.sentinels.iter().map(|s| s.log()).collect();
    assert!(
        logs.iter().any(|l| l.contains("+switch-master")),
        "the sentinels logged no failover: {logs:?}"
    );
    // Shown if a later assertion fails: every failover the sentinels saw.
    for log in &logs {
        for line in log
            .lines()
            .filter(|l| l.contains("switch-master") || l.contains("+sdown"))
        {
            eprintln!("sentinel: {line}");
        }
    }
    settle(&app, &seen, &reader).await;
}

/// A failover can lose events the old primary had not yet passed to its replica, after this
/// node had applied them; the new primary then gives their numbers to new writes. Rewinding a
/// test Redis the same way under a running node, the node must notice and reload, not skip the
/// new writes (they were answered 201, so checks on this node must see them).
#[tokio::test]
async fn a_feed_that_lost_applied_events_is_reloaded_not_skipped() {
    let app = crate::helpers::spawn_app(crate::helpers::Store::Redis).await;
    let agency = app.create_key("agency", None).await;
    let lost = app.listed(&agency, "lost.example.cn").await;
    assert_eq!(app.registry.index.seq(), 1);
    let id = lost["id"].as_str().unwrap().replace('-', "");
    // What the failover lost: the event, the entry, its place in every index, the counter.
    let client = redis::Client::open(app.registry.settings.store.redis_url.clone()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::pipe()
        .atomic()
        .del("{siteban}:feed")
        .set("{siteban}:seq", 0)
        .hdel("{siteban}:active", "lost.example.cn")
        .del(format!("{{siteban}}:entry:{id}"))
        .del("{siteban}:history:lost.example.cn")
        .zrem("{siteban}:by_seq:all", &id)
        .zrem("{siteban}:by_seq:active", &id)
        .query_async(&mut conn)
        .await
        .unwrap();
    // The next write takes the lost event's number.
    let kept = app.listed(&agency, "kept.example.cn").await;
    assert_eq!(kept["seq"], 1);
    eventually(
        DEADLINE,
        "this node to show the write after the lost one",
        || async { app.check(&agency, "kept.example.cn").await["listed"] == true },
    )
    .await;
    assert_eq!(
        app.check(&agency, "lost.example.cn").await["listed"],
        false,
        "the index follows the store, which lost the first listing"
    );
}
