//! Edge mirrors as operators run them: a registry process and `siteban mirror` processes
//! following it over HTTP(S). Listings reach every mirror; a mirror keeps answering while the
//! registry is down and catches up after; past the feed's retention it reloads from a
//! snapshot; restarted while the registry is down it serves its local copy; Unbound transfers
//! the RPZ from a mirror; writes and the registry's own reads are refused with mirror codes;
//! a mirror's own keys and roles decide who reads it; it relays the registry's transparency log
//! once each checkpoint checks out.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use serde_json::{Value, json};
use sha2::Digest;

use crate::dns::Unbound;
use crate::helpers::{
    DEADLINE, Node, UNLIMITED, entry_body, eventually, expect, free_port, lift_body, listed,
};

const ADMIN: &str = "mirror-test-admin-token-0123456789";

/// A registry node on the embedded store in `dir`, on `port`.
fn registry(dir: &Path, port: u16, extra: &[(&'static str, String)]) -> Node {
    registry_configured(dir, port, UNLIMITED.as_ref(), extra)
}

/// A registry node on the embedded store in `dir`, on `port`, with the settings file `config`.
fn registry_configured(
    dir: &Path,
    port: u16,
    config: &Path,
    extra: &[(&'static str, String)],
) -> Node {
    let mut env = vec![
        ("SITEBAN__STORE__BACKEND", "embedded".to_string()),
        (
            "SITEBAN__STORE__PATH",
            dir.join("registry").display().to_string(),
        ),
        ("SITEBAN__AUTH__ADMIN_TOKEN", ADMIN.to_string()),
    ];
    env.extend(extra.iter().cloned());
    Node::start_at(port, "serve", config, &env, dir.join("registry.log"))
}

/// The mirror's own clients: a key of each role a mirror takes, by token.
const CHECKER: &str = "mirror-client-access-token";
const RESOLVER: &str = "mirror-client-dns-token";

fn sha256(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// The settings file of a mirror called `name` in `dir`: rate limits off, and its own keys.
fn mirror_config(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let unlimited = std::fs::read_to_string(UNLIMITED).unwrap();
    std::fs::write(
        &path,
        format!(
            "{unlimited}\n[[mirror.keys]]\nname = \"gateway\"\nrole = \"access_provider\"\ntoken_sha256 = \"{}\"\n\
             [[mirror.keys]]\nname = \"resolver\"\nrole = \"dns_provider\"\ntoken_sha256 = \"{}\"\n",
            sha256(CHECKER),
            sha256(RESOLVER)
        ),
    )
    .unwrap();
    path
}

/// `siteban mirror` called `name`, following `upstream` with the token in `dir/upstream-token`,
/// its local copy in `dir/<name>/`.
fn mirror(
    dir: &Path,
    name: &str,
    port: u16,
    upstream: &str,
    extra: &[(&'static str, String)],
) -> Node {
    let mut env = vec![
        ("SITEBAN__MIRROR__UPSTREAM", upstream.to_string()),
        (
            "SITEBAN__MIRROR__TOKEN_FILE",
            dir.join("upstream-token").display().to_string(),
        ),
        ("SITEBAN__STORE__PATH", dir.join(name).display().to_string()),
        ("SITEBAN__MIRROR__SAVE_SECONDS", "1".to_string()),
        ("SITEBAN__MIRROR__WAIT_SECONDS", "2".to_string()),
        ("SITEBAN__MIRROR__MAX_BACKOFF_MS", "300".to_string()),
    ];
    env.extend(extra.iter().cloned());
    Node::start_at(
        port,
        "mirror",
        &mirror_config(dir, name),
        &env,
        dir.join(format!("{name}.log")),
    )
}

/// A key of `role` on the registry (`provider` bound, for a provider role).
async fn registry_key(client: &reqwest::Client, node: &Node, role: &str) -> String {
    let mut body = json!({"name": role, "role": role});
    if role.ends_with("_provider") {
        let kind = if role == "dns_provider" {
            "dns"
        } else {
            "access"
        };
        let provider = expect(
            client
                .post(node.url("/v1/providers"))
                .bearer_auth(ADMIN)
                .json(&json!({"name": format!("{kind} co"), "kind": kind}))
                .send()
                .await
                .unwrap(),
            201,
            "a provider",
        )
        .await;
        body["provider_id"] = provider["id"].clone();
    }
    let key = expect(
        client
            .post(node.url("/v1/keys"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap(),
        201,
        "a key",
    )
    .await;
    key["token"].as_str().unwrap().to_string()
}

/// A registry with an agency key, and the provider key mirrors follow it with (in
/// `dir/upstream-token`).
async fn registry_with_keys(
    client: &reqwest::Client,
    dir: &Path,
    port: u16,
    extra: &[(&'static str, String)],
) -> (Node, String) {
    keyed(client, dir, registry(dir, port, extra)).await
}

/// `node`, once ready, with an agency key, and the provider key mirrors follow it with.
async fn keyed(client: &reqwest::Client, dir: &Path, node: Node) -> (Node, String) {
    node.wait_ready(client).await;
    let agency = registry_key(client, &node, "agency").await;
    let provider = registry_key(client, &node, "dns_provider").await;
    std::fs::write(dir.join("upstream-token"), format!("{provider}\n")).unwrap();
    (node, agency)
}

async fn list(client: &reqwest::Client, node: &Node, agency: &str, domain: &str) {
    expect(
        client
            .post(node.url("/v1/entries"))
            .bearer_auth(agency)
            .json(&entry_body(domain))
            .send()
            .await
            .unwrap(),
        201,
        &format!("listing {domain}"),
    )
    .await;
}

async fn lift(client: &reqwest::Client, node: &Node, agency: &str, domain: &str) {
    expect(
        client
            .post(node.url(&format!("/v1/entries/{domain}/lift")))
            .bearer_auth(agency)
            .json(&lift_body())
            .send()
            .await
            .unwrap(),
        200,
        &format!("lifting {domain}"),
    )
    .await;
}

async fn eventually_listed(client: &reqwest::Client, node: &Node, domain: &str, want: bool) {
    eventually(
        DEADLINE,
        &format!("{domain} listed={want} on a mirror"),
        || async { listed(client, node, CHECKER, domain).await == Some(want) },
    )
    .await;
}

async fn readyz(client: &reqwest::Client, node: &Node) -> (u16, Value) {
    let response = client.get(node.url("/readyz")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_reach_every_mirror_which_refuses_writes_and_checks_its_own_keys() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let (registry, agency) = registry_with_keys(&client, dir.path(), free_port(), &[]).await;
    let upstream = registry.url("");
    let a = mirror(dir.path(), "a", free_port(), &upstream, &[]);
    let b = mirror(
        dir.path(),
        "b",
        free_port(),
        &upstream,
        &[("SITEBAN__MIRROR__OPEN", "true".into())],
    );
    a.wait_ready(&client).await;
    b.wait_ready(&client).await;

    list(&client, &registry, &agency, "counterfeit-shop.cn").await;
    for node in [&a, &b] {
        eventually_listed(&client, node, "www.counterfeit-shop.cn", true).await;
    }
    assert_eq!(
        listed(&client, &a, CHECKER, "honest-shop.cn").await,
        Some(false)
    );

    // The mirror's feed and snapshot are the registry's, sequence numbers and all.
    let feed = |node: &Node, token: &'static str| {
        let request = client
            .get(node.url("/v1/feed?after=0"))
            .bearer_auth(token)
            .send();
        async move { expect(request.await.unwrap(), 200, "the feed").await }
    };
    let upstream_feed = expect(
        client
            .get(registry.url("/v1/feed?after=0"))
            .bearer_auth(&agency)
            .send()
            .await
            .unwrap(),
        200,
        "the registry's feed",
    )
    .await;
    assert_eq!(feed(&a, CHECKER).await, upstream_feed);
    let snapshot = |node: &Node, token: String| {
        let request = client
            .get(node.url("/v1/snapshot"))
            .bearer_auth(token)
            .send();
        async move { expect(request.await.unwrap(), 200, "the snapshot").await }
    };
    assert_eq!(
        snapshot(&a, CHECKER.into()).await,
        snapshot(&registry, agency.clone()).await
    );
    // The feed answers conditional requests, on the registry as on the mirror.
    for (node, token) in [(&registry, agency.as_str()), (&a, CHECKER)] {
        let first = client
            .get(node.url("/v1/feed?after=0"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers()["cache-control"], "public, no-cache");
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        let again = client
            .get(node.url("/v1/feed?after=0"))
            .bearer_auth(token)
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{}", node.url(""));
        assert!(again.bytes().await.unwrap().is_empty());
        // A page from another cursor is another page.
        let other = client
            .get(node.url("/v1/feed?after=1"))
            .bearer_auth(token)
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200);
    }

    // Writes, and reads of what only the registry holds, say this is a mirror.
    for (method, path) in [
        ("POST", "/v1/entries"),
        ("POST", "/v1/entries/counterfeit-shop.cn/lift"),
        ("POST", "/v1/keys"),
        ("DELETE", "/v1/keys/k_1"),
        ("PUT", "/v1/recordals/x"),
        ("POST", "/v1/cases"),
    ] {
        let response = client
            .request(method.parse().unwrap(), a.url(path))
            .bearer_auth(CHECKER)
            .json(&entry_body("counterfeit-shop.cn"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "GET", "{method} {path}");
        let body = expect(response, 405, &format!("{method} {path}")).await;
        assert_eq!(body["error"]["code"], "read_only_mirror", "{method} {path}");
    }
    for path in [
        "/v1/entries/counterfeit-shop.cn",
        "/v1/entries",
        "/v1/keys",
        "/v1/notices",
        "/v1/audit",
        "/console/",
        "/openapi.json",
    ] {
        let response = client
            .get(a.url(path))
            .bearer_auth(CHECKER)
            .send()
            .await
            .unwrap();
        let body = expect(response, 404, path).await;
        assert_eq!(body["error"]["code"], "not_on_mirror", "{path}");
    }
    // Nothing was written upstream.
    let entries = expect(
        client
            .get(registry.url("/v1/entries"))
            .bearer_auth(&agency)
            .send()
            .await
            .unwrap(),
        200,
        "the registry's entries",
    )
    .await;
    assert_eq!(entries["entries"].as_array().unwrap().len(), 1);

    // The mirror's own keys and roles decide; the registry's keys mean nothing there.
    let check = |node: &Node, token: Option<&str>, path: &str| {
        let mut request = client.get(node.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let path = "/v1/check?domain=counterfeit-shop.cn";
    assert_eq!(
        check(&a, None, path).await,
        401,
        "a keyed mirror needs a key"
    );
    assert_eq!(check(&a, Some(&agency), path).await, 401);
    assert_eq!(check(&a, Some(CHECKER), path).await, 200);
    assert_eq!(check(&a, Some(RESOLVER), path).await, 200);
    assert_eq!(check(&a, Some(CHECKER), "/v1/rpz").await, 403);
    assert_eq!(check(&a, Some(RESOLVER), "/v1/rpz").await, 200);
    assert_eq!(
        check(&b, None, path).await,
        200,
        "an open mirror needs none"
    );
    assert_eq!(check(&b, None, "/v1/rpz").await, 200);
    assert_eq!(check(&b, Some("wrong-token"), path).await, 401);

    let (status, ready) = readyz(&client, &a).await;
    assert_eq!(status, 200, "{ready}");
    assert!(ready["stale_seconds"].as_u64().unwrap() < 10, "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_outlive_the_registry_serve_their_copy_and_catch_up() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let registry_port = free_port();
    let (mut registry, agency) = registry_with_keys(&client, dir.path(), registry_port, &[]).await;
    let upstream = registry.url("");
    let mirror_port = free_port();
    let staleness = ("SITEBAN__MIRROR__MAX_STALENESS_SECONDS", "4".to_string());
    let mut edge = mirror(
        dir.path(),
        "edge",
        mirror_port,
        &upstream,
        std::slice::from_ref(&staleness),
    );
    edge.wait_ready(&client).await;
    list(&client, &registry, &agency, "counterfeit-shop.cn").await;
    eventually_listed(&client, &edge, "counterfeit-shop.cn", true).await;

    registry.kill();
    // Checks go on from what the mirror has; it stays ready within its staleness limit...
    assert_eq!(
        listed(&client, &edge, CHECKER, "counterfeit-shop.cn").await,
        Some(true)
    );
    assert_eq!(readyz(&client, &edge).await.0, 200);
    // The log is read with the mirror's own keys, as its feed is.
    for path in ["/v1/log/checkpoint", "/v1/log/tile/0/000"] {
        let response = client.get(edge.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path} without a key");
        let (status, ..) = fetch(&client, &edge, "not-a-key-of-this-mirror", path).await;
        assert_eq!(status, 401, "{path} with another key");
    }
    // ...then says how stale it is, answering all the same.
    eventually(DEADLINE, "the mirror to say it is stale", || async {
        readyz(&client, &edge).await.0 == 503
    })
    .await;
    let (_, body) = readyz(&client, &edge).await;
    assert!(
        body["reason"].as_str().unwrap().contains("upstream"),
        "{body}"
    );
    assert_eq!(
        listed(&client, &edge, CHECKER, "counterfeit-shop.cn").await,
        Some(true)
    );

    // Restarted while the registry is down, it serves its local copy at once.
    edge.kill();
    let edge = mirror(dir.path(), "edge", mirror_port, &upstream, &[staleness]);
    eventually(DEADLINE, "the restarted mirror to answer", || async {
        listed(&client, &edge, CHECKER, "counterfeit-shop.cn").await == Some(true)
    })
    .await;
    let log = std::fs::read_to_string(&edge.log).unwrap();
    assert!(
        log.contains("serving from the mirror's local copy"),
        "{log}"
    );

    // The registry back, the mirror catches up with what was written since.
    let registry = registry_at(dir.path(), registry_port);
    registry.wait_ready(&client).await;
    list(&client, &registry, &agency, "late-listed.cn").await;
    lift(&client, &registry, &agency, "counterfeit-shop.cn").await;
    eventually_listed(&client, &edge, "late-listed.cn", true).await;
    eventually_listed(&client, &edge, "counterfeit-shop.cn", false).await;
    eventually(DEADLINE, "the mirror to be ready again", || async {
        readyz(&client, &edge).await.0 == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_loads_the_set_again_when_the_registry_goes_back_in_time() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut registry, agency) = registry_with_keys(&client, dir.path(), port, &[]).await;
    let edge = mirror(dir.path(), "edge", free_port(), &registry.url(""), &[]);
    edge.wait_ready(&client).await;
    list(&client, &registry, &agency, "counterfeit-shop.cn").await;
    // The registry's store as it stands now, kept aside as a backup would be.
    registry.kill();
    let data = dir.path().join("registry");
    let backup = dir.path().join("backup");
    copy_dir(&data, &backup);
    let mut registry = registry_at(dir.path(), port);
    registry.wait_ready(&client).await;
    list(&client, &registry, &agency, "late-listed.cn").await;
    list(&client, &registry, &agency, "exact-shop.cn").await;
    eventually_listed(&client, &edge, "exact-shop.cn", true).await;

    // Restored from the backup, the registry is two events behind the mirror: once it stays
    // behind for two long-polls, the mirror loads its set again.
    registry.kill();
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&backup, &data);
    let registry = registry_at(dir.path(), port);
    registry.wait_ready(&client).await;
    eventually_listed(&client, &edge, "late-listed.cn", false).await;
    assert_eq!(
        listed(&client, &edge, CHECKER, "exact-shop.cn").await,
        Some(false)
    );
    assert_eq!(
        listed(&client, &edge, CHECKER, "counterfeit-shop.cn").await,
        Some(true)
    );
    let log = std::fs::read_to_string(&edge.log).unwrap();
    assert!(log.contains("has been behind this mirror"), "{log}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn registry_at(dir: &Path, port: u16) -> Node {
    registry(dir, port, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_behind_the_feeds_retention_reloads_from_a_snapshot() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let retention = [("SITEBAN__FEED__RETENTION", "3".to_string())];
    let (registry, agency) = registry_with_keys(&client, dir.path(), free_port(), &retention).await;
    let upstream = registry.url("");
    let port = free_port();
    let mut edge = mirror(dir.path(), "edge", port, &upstream, &[]);
    edge.wait_ready(&client).await;
    list(&client, &registry, &agency, "counterfeit-shop.cn").await;
    eventually_listed(&client, &edge, "counterfeit-shop.cn", true).await;
    // The copy on disk holds the listing before the mirror goes away.
    let copy = dir.path().join("edge").join("mirror-copy.json");
    eventually(DEADLINE, "the local copy to be saved", || async {
        std::fs::read_to_string(&copy).is_ok_and(|c| c.contains("counterfeit-shop.cn"))
    })
    .await;
    edge.kill();

    // More changes than the feed keeps.
    for i in 0..5 {
        list(&client, &registry, &agency, &format!("shop{i}.example.cn")).await;
    }
    lift(&client, &registry, &agency, "counterfeit-shop.cn").await;

    let edge = mirror(dir.path(), "edge", port, &upstream, &[]);
    eventually_listed(&client, &edge, "shop4.example.cn", true).await;
    eventually_listed(&client, &edge, "counterfeit-shop.cn", false).await;
    for i in 0..5 {
        assert_eq!(
            listed(&client, &edge, CHECKER, &format!("shop{i}.example.cn")).await,
            Some(true)
        );
    }
    let log = std::fs::read_to_string(&edge.log).unwrap();
    assert!(log.contains("snapshot loaded from the upstream"), "{log}");
    // What it reloaded replaced the copy: after a restart it is what it serves.
    eventually(DEADLINE, "the new copy to be saved", || async {
        std::fs::read_to_string(&copy).is_ok_and(|c| !c.contains("counterfeit-shop.cn"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_follows_a_registry_over_https_and_refuses_a_wrong_key() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let port = free_port();
    let tls = [
        (
            "SITEBAN__SERVER__TLS__CERT_PATH",
            cert.display().to_string(),
        ),
        ("SITEBAN__SERVER__TLS__KEY_PATH", key.display().to_string()),
    ];
    let _registry = registry(dir.path(), port, &tls);
    let https = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    eventually(DEADLINE, "the registry to serve HTTPS", || async {
        https
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let key_of = |role: &'static str| {
        let request = https
            .post(format!("{base}/v1/keys"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": role, "role": role}))
            .send();
        async move {
            expect(request.await.unwrap(), 201, "a key").await["token"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let agency = key_of("agency").await;
    let auditor = key_of("auditor").await;
    std::fs::write(dir.path().join("upstream-token"), &auditor).unwrap();
    expect(
        https
            .post(format!("{base}/v1/entries"))
            .bearer_auth(&agency)
            .json(&entry_body("counterfeit-shop.cn"))
            .send()
            .await
            .unwrap(),
        201,
        "a listing",
    )
    .await;

    // Without the registry's certificate authority, the mirror cannot start.
    let mut untrusting = mirror(dir.path(), "untrusting", free_port(), &base, &[]);
    eventually(
        DEADLINE,
        "a mirror that cannot trust the upstream to stop",
        || {
            let exited = untrusting.exited();
            async move { exited }
        },
    )
    .await;
    let log = std::fs::read_to_string(&untrusting.log).unwrap();
    assert!(log.contains("cannot load the index"), "{log}");

    let ca = [("SITEBAN__MIRROR__CA_FILE", cert.display().to_string())];
    let edge = mirror(dir.path(), "edge", free_port(), &base, &ca);
    edge.wait_ready(&client).await;
    eventually_listed(&client, &edge, "counterfeit-shop.cn", true).await;

    // A key the registry does not know is refused, and the log says what to fix.
    std::fs::write(dir.path().join("upstream-token"), "not-a-key").unwrap();
    let mut refused = mirror(dir.path(), "refused", free_port(), &base, &ca);
    eventually(DEADLINE, "a mirror with a wrong key to stop", || {
        let exited = refused.exited();
        async move { exited }
    })
    .await;
    let log = std::fs::read_to_string(&refused.log).unwrap();
    assert!(log.contains("refused the mirror's key (401"), "{log}");
    assert!(
        !log.contains("not-a-key"),
        "the token is never logged: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_transfers_the_rpz_from_a_mirror_and_blocks_a_registry_listing() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let (registry, agency) = registry_with_keys(&client, dir.path(), free_port(), &[]).await;
    list(&client, &registry, &agency, "counterfeit-shop.cn").await;
    let dns_port = free_port();
    let unbound_port = free_port();
    let edge = mirror(
        dir.path(),
        "edge",
        free_port(),
        &registry.url(""),
        &[
            ("SITEBAN__DNS__LISTEN", format!("127.0.0.1:{dns_port}")),
            ("SITEBAN__DNS__NOTIFY", format!("127.0.0.1:{unbound_port}")),
        ],
    );
    edge.wait_ready(&client).await;
    let primary: SocketAddr = format!("127.0.0.1:{dns_port}").parse().unwrap();
    let unbound = Unbound::start_with(unbound_port, primary, "");
    let nx = Some(ResponseCode::NXDomain);
    let ok = Some(ResponseCode::NoError);
    eventually(
        DEADLINE,
        "Unbound to load the zone from the mirror",
        || async { unbound.status("www.counterfeit-shop.cn.").await == nx },
    )
    .await;
    assert_eq!(unbound.status("late-listed.cn.").await, ok);
    // A listing on the registry reaches Unbound through the mirror (NOTIFY, then IXFR).
    list(&client, &registry, &agency, "late-listed.cn").await;
    eventually(
        Duration::from_secs(10),
        "Unbound to block a listing made on the registry",
        || async { unbound.status("late-listed.cn.").await == nx },
    )
    .await;
    assert_eq!(
        unbound.status("honest-shop.cn.").await,
        ok,
        "{}",
        unbound.log()
    );
}

/// A `GET` of `path` on `node` with `token`: status, `X-Log-Size`, `Cache-Control`, body.
async fn fetch(
    client: &reqwest::Client,
    node: &Node,
    token: &str,
    path: &str,
) -> (u16, Option<u64>, String, Vec<u8>) {
    let response = client
        .get(node.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let size = header("x-log-size").map(|s| s.parse().unwrap());
    let cache = header("cache-control").unwrap_or_default();
    let status = response.status().as_u16();
    (
        status,
        size,
        cache,
        response.bytes().await.unwrap().to_vec(),
    )
}

/// An upstream that is not what it says: it passes every `GET` on to `upstream`, but in its
/// feed every event after `after` names another domain than the one the log holds.
fn lying_upstream(upstream: String, after: u64) -> String {
    let port = free_port();
    let server = actix_web::HttpServer::new(move || {
        let upstream = upstream.clone();
        actix_web::App::new().default_service(actix_web::web::to(
            move |req: actix_web::HttpRequest| {
                let upstream = upstream.clone();
                async move {
                    let mut asked = reqwest::Client::new().get(format!("{upstream}{}", req.uri()));
                    if let Some(auth) = req.headers().get("authorization") {
                        asked = asked.header("authorization", auth.to_str().unwrap());
                    }
                    let response = asked.send().await.unwrap();
                    let status = response.status().as_u16();
                    let mut answer = actix_web::HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status).unwrap(),
                    );
                    for name in ["x-blacklist-seq", "x-log-size", "content-type"] {
                        if let Some(value) = response.headers().get(name) {
                            answer.insert_header((name, value.to_str().unwrap().to_string()));
                        }
                    }
                    let mut body = response.bytes().await.unwrap().to_vec();
                    if req.path() == "/v1/feed" && status == 200 {
                        let mut page: Value = serde_json::from_slice(&body).unwrap();
                        for event in page["events"].as_array_mut().unwrap() {
                            let seq = event["seq"].as_u64().unwrap();
                            if seq > after {
                                event["domain"] = json!(format!("forged{seq}.example.cn"));
                            }
                        }
                        body = serde_json::to_vec(&page).unwrap();
                    }
                    answer.body(body)
                }
            },
        ))
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

/// A mirror relays the registry's transparency log: the same key, checkpoints, witnessed
/// checkpoints, tiles and proofs, and `siteban verify` pointed at the mirror passes, with the
/// witness's cosignature required. Each checkpoint is relayed only once it checks out: a
/// mirror pinned to another key relays none, and one whose upstream's feed is not what its
/// log holds says so; both answer `/readyz` 503 with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_relays_the_registrys_log_once_it_checks_out() {
    use crate::log::{
        TestWitness, hashes, leaf_hash, log_key_file, open_checkpoint, run_verify, serve_witness,
        verify_inclusion,
    };
    const ORIGIN: &str = "registry.test.invalid/log";
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    // The registry signs with a key of its own file and has one witness.
    let (key_file, key) = log_key_file(dir.path(), ORIGIN);
    let witness = TestWitness::new("witness.test.invalid/mirrored", 9, &key);
    let config = dir.path().join("registry.toml");
    std::fs::write(
        &config,
        format!(
            "{}
[tlog]
origin = \"{ORIGIN}\"
key_file = \"{}\"
[[tlog.witnesses]]
url = \"{}\"
key = \"{}\"
",
            std::fs::read_to_string(UNLIMITED).unwrap(),
            key_file.display(),
            serve_witness(std::sync::Arc::clone(&witness)),
            witness.vkey()
        ),
    )
    .unwrap();
    let node = registry_configured(dir.path(), free_port(), &config, &[]);
    let (registry, agency) = keyed(&client, dir.path(), node).await;
    let auditor = registry_key(&client, &registry, "auditor").await;
    let (_, _, _, published) = fetch(&client, &registry, &auditor, "/v1/log/key").await;
    assert_eq!(String::from_utf8(published).unwrap().trim(), key);
    let edge = mirror(
        dir.path(),
        "edge",
        free_port(),
        &registry.url(""),
        &[("SITEBAN__MIRROR__LOG_KEY", key.clone())],
    );
    let stranger_key = siteban::tlog::LogKey::new(
        &siteban::tlog::generate_key("siteban.invalid/log").unwrap(),
        "siteban.invalid/log",
    )
    .unwrap()
    .verifier()
    .to_string();
    let stranger = mirror(
        dir.path(),
        "stranger",
        free_port(),
        &registry.url(""),
        &[("SITEBAN__MIRROR__LOG_KEY", stranger_key)],
    );
    edge.wait_ready(&client).await;

    // A full tile's worth of listings and more.
    let names: Vec<String> = (0..260).map(|n| format!("relayed{n}.example.cn")).collect();
    for chunk in names.chunks(20) {
        futures_util::future::join_all(chunk.iter().map(|n| list(&client, &registry, &agency, n)))
            .await;
    }
    eventually(
        DEADLINE,
        "the mirror to relay the checkpoint of every listing",
        || async {
            let (_, upstream, _, _) =
                fetch(&client, &registry, &auditor, "/v1/log/checkpoint").await;
            let (status, relayed, _, _) =
                fetch(&client, &edge, CHECKER, "/v1/log/checkpoint").await;
            status == 200 && upstream.is_some_and(|u| u >= 260) && relayed == upstream
        },
    )
    .await;
    let size = fetch(&client, &edge, CHECKER, "/v1/log/checkpoint")
        .await
        .1
        .unwrap();

    // What the mirror serves is the registry's, byte for byte.
    for path in [
        "/v1/log/key".to_string(),
        "/v1/log/checkpoint".to_string(),
        "/v1/log/tile/0/000".to_string(),
        "/v1/log/tile/1/000.p/1".to_string(),
        format!("/v1/log/tile/0/001.p/{}", size - 256),
        "/v1/log/proof?seq=7".to_string(),
        format!("/v1/log/consistency?from=100&to={size}"),
    ] {
        let (status, _, cache, relayed) = fetch(&client, &edge, CHECKER, &path).await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&relayed));
        let (_, _, _, upstream) = fetch(&client, &registry, &auditor, &path).await;
        assert_eq!(relayed, upstream, "{path}");
        if path.contains("/tile/") {
            assert_eq!(cache, "public, max-age=31536000, immutable", "{path}");
        }
    }
    // ... and proves what the registry's log holds.
    let (_, _, _, note) = fetch(&client, &edge, CHECKER, "/v1/log/checkpoint").await;
    let (_, checkpoint_size, root) = open_checkpoint(&String::from_utf8(note).unwrap(), &key);
    assert_eq!(checkpoint_size, size);
    let (_, _, _, proof) = fetch(&client, &edge, CHECKER, "/v1/log/proof?seq=7").await;
    let proof: Value = serde_json::from_slice(&proof).unwrap();
    assert!(verify_inclusion(
        6,
        size,
        leaf_hash(proof["leaf"].as_str().unwrap().as_bytes()),
        &hashes(&proof["proof"]),
        root
    ));
    // The witnessed checkpoint is relayed once it is consistent with the one relayed.
    eventually(
        DEADLINE,
        "the mirror to relay the witnessed checkpoint",
        || async {
            let (_, upstream, _, _) =
                fetch(&client, &registry, &auditor, "/v1/log/witnessed").await;
            let (status, relayed, _, _) = fetch(&client, &edge, CHECKER, "/v1/log/witnessed").await;
            status == 200 && relayed == upstream && relayed == Some(size)
        },
    )
    .await;
    let (_, _, _, witnessed) = fetch(&client, &edge, CHECKER, "/v1/log/witnessed").await;
    let witnessed = String::from_utf8(witnessed).unwrap();
    assert!(
        witnessed.contains("\u{2014} witness.test.invalid/mirrored "),
        "{witnessed}"
    );
    assert!(witness.refused.lock().unwrap().is_empty());
    // A provider verifies the mirror's list against the log, through the mirror, and with
    // the witness's cosignature.
    let verifier = dir.path().join("verifier");
    std::fs::create_dir_all(&verifier).unwrap();
    std::fs::write(verifier.join("token"), CHECKER).unwrap();
    let (_, _, _, snapshot) = fetch(&client, &edge, CHECKER, "/v1/snapshot").await;
    let snapshot_file = verifier.join("snapshot.json");
    std::fs::write(&snapshot_file, snapshot).unwrap();
    let (status, said) = run_verify(
        &edge,
        &verifier,
        &key,
        &["--snapshot", snapshot_file.to_str().unwrap()],
    );
    assert_eq!(status, 0, "{said}");
    let vkey = witness.vkey();
    let (status, said) = run_verify(&edge, &verifier, &key, &["--witness", &vkey]);
    assert_eq!(status, 0, "{said}");
    // The audit log and listings' proofs are the registry's alone.
    for path in [
        "/v1/audit/checkpoint",
        "/v1/entries/relayed1.example.cn/proof",
        "/v1/check?domain=relayed1.example.cn&proof=true",
    ] {
        let (status, _, _, body) = fetch(&client, &edge, CHECKER, path).await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_on_mirror")),
            "{path}"
        );
    }
    assert_eq!(readyz(&client, &edge).await.0, 200);
    // The log is read with the mirror's own keys, as its feed is.
    for path in ["/v1/log/checkpoint", "/v1/log/tile/0/000"] {
        let response = client.get(edge.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path} without a key");
        let (status, ..) = fetch(&client, &edge, "not-a-key-of-this-mirror", path).await;
        assert_eq!(status, 401, "{path} with another key");
    }

    // The mirror pinned to another key relays nothing, and says why.
    let (status, body) = readyz(&client, &stranger).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("does not check out"),
        "{body}"
    );
    let (status, _, _, body) = fetch(&client, &stranger, CHECKER, "/v1/log/checkpoint").await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_in_log"))
    );
    eventually_listed(&client, &stranger, "relayed1.example.cn", true).await;

    // A mirror whose upstream's feed is not what its log holds stops relaying it.
    let head = size;
    let fooled = mirror(
        dir.path(),
        "fooled",
        free_port(),
        &lying_upstream(registry.url(""), head),
        &[("SITEBAN__MIRROR__LOG_KEY", key.clone())],
    );
    fooled.wait_ready(&client).await;
    for name in ["after0.example.cn", "after1.example.cn"] {
        list(&client, &registry, &agency, name).await;
    }
    eventually(
        DEADLINE,
        "the fooled mirror to say its upstream does not check out",
        || async {
            let (status, body) = readyz(&client, &fooled).await;
            status == 503
                && body["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("is not what its log"))
        },
    )
    .await;
    let (_, relayed, _, _) = fetch(&client, &fooled, CHECKER, "/v1/log/checkpoint").await;
    assert!(relayed.is_none_or(|s| s <= head), "{relayed:?}");
    let log = std::fs::read_to_string(dir.path().join("fooled.log")).unwrap();
    assert!(log.contains("does not check out"), "{log}");
}
