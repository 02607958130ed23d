//! The real binary as operators run it: durability across SIGKILL on both stores, two nodes
//! sharing one Redis, a Redis outage while checks go on, and the maintenance commands on the
//! store and through a running node (`--url`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{DEADLINE, Node, RedisServer, entry_body, eventually, listed};

const ADMIN: &str = "process-test-admin-token-0123456789";

fn embedded_env(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("SITEBAN__STORE__BACKEND", "embedded".into()),
        ("SITEBAN__STORE__PATH", dir.display().to_string()),
        ("SITEBAN__AUTH__ADMIN_TOKEN", ADMIN.into()),
    ]
}

fn redis_env(redis: &RedisServer, dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("SITEBAN__STORE__BACKEND", "redis".into()),
        ("SITEBAN__STORE__REDIS_URL", redis.url()),
        ("SITEBAN__STORE__PATH", dir.display().to_string()),
        ("SITEBAN__AUTH__ADMIN_TOKEN", ADMIN.into()),
    ]
}

async fn make_key(client: &reqwest::Client, node: &Node, role: &str) -> (String, String) {
    let key: Value = client
        .post(node.url("/v1/keys"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": role, "role": role}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        key["id"].as_str().unwrap().into(),
        key["token"].as_str().unwrap().into(),
    )
}

async fn post_entry(
    client: &reqwest::Client,
    node: &Node,
    token: &str,
    domain: &str,
) -> reqwest::StatusCode {
    client
        .post(node.url("/v1/entries"))
        .bearer_auth(token)
        .json(&entry_body(domain))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn embedded_entry_survives_sigkill_right_after_201() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(&embedded_env(dir.path()), dir.path().join("node.log"));
    node.wait_ready(&client).await;
    let (_, agency) = make_key(&client, &node, "agency").await;
    assert_eq!(
        post_entry(&client, &node, &agency, "durable.example.cn").await,
        201
    );
    node.kill();

    let node = Node::start(&embedded_env(dir.path()), dir.path().join("node2.log"));
    node.wait_ready(&client).await;
    assert_eq!(
        listed(&client, &node, &agency, "www.durable.example.cn").await,
        Some(true)
    );
}

#[tokio::test]
async fn redis_entry_survives_sigkill_of_siteban_and_redis_right_after_201() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start_with(true);
    let mut node = Node::start(&redis_env(&redis, dir.path()), dir.path().join("node.log"));
    node.wait_ready(&client).await;
    let (_, agency) = make_key(&client, &node, "agency").await;
    assert_eq!(
        post_entry(&client, &node, &agency, "durable.example.cn").await,
        201
    );
    node.kill();
    redis.restart();

    let node = Node::start(&redis_env(&redis, dir.path()), dir.path().join("node2.log"));
    node.wait_ready(&client).await;
    assert_eq!(
        listed(&client, &node, &agency, "www.durable.example.cn").await,
        Some(true)
    );
}

#[tokio::test]
async fn two_nodes_on_one_redis_see_each_others_writes_and_keys() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let a = Node::start(&redis_env(&redis, dir.path()), dir.path().join("a.log"));
    let b = Node::start(&redis_env(&redis, dir.path()), dir.path().join("b.log"));
    a.wait_ready(&client).await;
    b.wait_ready(&client).await;
    // This Redis keeps nothing on disk, and the node says so loudly.
    let log = std::fs::read_to_string(&a.log).unwrap();
    assert!(log.contains("KEEPS NOTHING ON DISK"), "{log}");

    // A key made through A works on B within a second.
    let (key_id, agency) = make_key(&client, &a, "agency").await;
    eventually(
        Duration::from_secs(1),
        "the key to work on node B",
        || async { listed(&client, &b, &agency, "x.example.cn").await.is_some() },
    )
    .await;

    // An entry written on A is listed on B within a second, and the other way round.
    assert_eq!(
        post_entry(&client, &a, &agency, "shared.example.cn").await,
        201
    );
    eventually(
        Duration::from_secs(1),
        "node B to list the entry",
        || async { listed(&client, &b, &agency, "www.shared.example.cn").await == Some(true) },
    )
    .await;
    assert_eq!(
        post_entry(&client, &b, &agency, "other.example.cn").await,
        201
    );
    eventually(
        Duration::from_secs(1),
        "node A to list the entry",
        || async { listed(&client, &a, &agency, "other.example.cn").await == Some(true) },
    )
    .await;
    // Both nodes numbered their writes from one sequence.
    let feed: Value = client
        .get(a.url("/v1/feed"))
        .bearer_auth(&agency)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seqs: Vec<u64> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2]);

    // A key revoked on A stops working on B within a second.
    let response = client
        .delete(a.url(&format!("/v1/keys/{key_id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    eventually(
        Duration::from_secs(1),
        "the revoked key to fail on node B",
        || async {
            client
                .get(b.url("/v1/check?domain=x.example.cn"))
                .bearer_auth(&agency)
                .send()
                .await
                .is_ok_and(|r| r.status() == 401)
        },
    )
    .await;
}

#[tokio::test]
async fn checks_go_on_while_redis_is_down_and_writes_resume_after() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start_with(true);
    let node = Node::start(&redis_env(&redis, dir.path()), dir.path().join("node.log"));
    node.wait_ready(&client).await;
    let (_, agency) = make_key(&client, &node, "agency").await;
    assert_eq!(
        post_entry(&client, &node, &agency, "before.example.cn").await,
        201
    );

    redis.kill();
    // Checks keep being answered from memory; readiness reports the stale index.
    assert_eq!(
        listed(&client, &node, &agency, "before.example.cn").await,
        Some(true)
    );
    eventually(DEADLINE, "readyz to report the outage", || async {
        let response = client.get(node.url("/readyz")).send().await.unwrap();
        response.status() == 503
            && response.json::<Value>().await.unwrap()["reason"]
                .as_str()
                .is_some_and(|r| r.contains("store"))
    })
    .await;
    let response = client
        .post(node.url("/v1/entries"))
        .bearer_auth(&agency)
        .json(&entry_body("during.example.cn"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "store_unavailable"
    );
    assert_eq!(
        listed(&client, &node, &agency, "before.example.cn").await,
        Some(true)
    );
    let metrics = client
        .get(node.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("siteban_follower_errors_total{kind=\"store\"}"),
        "{metrics}"
    );

    redis.restart();
    eventually(DEADLINE, "writes to succeed again", || async {
        post_entry(&client, &node, &agency, "after.example.cn").await == 201
    })
    .await;
    assert_eq!(
        listed(&client, &node, &agency, "after.example.cn").await,
        Some(true)
    );
    assert_eq!(
        listed(&client, &node, &agency, "during.example.cn").await,
        Some(false)
    );
    node.wait_ready(&client).await;
}

fn siteban(args: &[&str], env: &[(&'static str, String)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_siteban"))
        .args(args)
        // A token in the test runner's environment must not stand in for the test's own.
        .env_remove("SITEBAN_TOKEN")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("the siteban binary runs")
}

#[tokio::test]
async fn audit_export_verifies_and_tampering_is_found() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let env = redis_env(&redis, dir.path());
    let node = Node::start(&env, dir.path().join("node.log"));
    node.wait_ready(&client).await;
    let (_, agency) = make_key(&client, &node, "agency").await;
    for domain in ["one.example.cn", "two.example.cn", "com.cn"] {
        post_entry(&client, &node, &agency, domain).await;
    }

    let export = siteban(&["audit", "export"], &env);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    // Redis admits many clients: the command works through the store while the node runs,
    // and says so.
    let said = String::from_utf8_lossy(&export.stderr);
    assert!(
        said.contains(&format!("using the store at {} (Redis)", redis.url())),
        "{said}"
    );
    let lines: Vec<String> = String::from_utf8(export.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 4, "a key and three submissions");
    let file = dir.path().join("audit.ndjson");
    let verify = |lines: &[String]| {
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let out = siteban(&["audit", "verify", file.to_str().unwrap()], &env);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (ok, said) = verify(&lines);
    assert!(ok, "{said}");
    assert!(said.contains("4 records verified"), "{said}");

    let mut altered = lines.clone();
    altered[1] = altered[1].replace("one.example.cn", "elsewhere.example.cn");
    let (ok, said) = verify(&altered);
    assert!(!ok);
    assert!(said.contains("record 2 was altered"), "{said}");

    let mut removed = lines.clone();
    removed.remove(2);
    let (ok, said) = verify(&removed);
    assert!(!ok);
    assert!(said.contains("records 3 to 3 were removed"), "{said}");

    let mut reordered = lines.clone();
    reordered.swap(2, 3);
    let (ok, said) = verify(&reordered);
    assert!(!ok);
    assert!(said.contains("record"), "{said}");

    // The live store verifies, and tampering with it is found too.
    let out = siteban(&["audit", "verify"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let forged = lines[2].replace("two.example.cn", "forged.example.cn");
    let _: () = redis::cmd("LSET")
        .arg("{siteban}:audit")
        .arg(2)
        .arg(forged)
        .query(&mut conn)
        .unwrap();
    let out = siteban(&["audit", "verify"], &env);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("record 3 was altered"));
}

#[tokio::test]
async fn no_token_or_secret_reaches_the_logs() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let mut env = embedded_env(dir.path());
    env.push(("RUST_LOG", "debug".into()));
    env.push(("SITEBAN__LOG__FORMAT", "json".into()));
    let log = dir.path().join("node.log");
    let mut node = Node::start(&env, log.clone());
    node.wait_ready(&client).await;
    let (key_id, agency) = make_key(&client, &node, "agency").await;
    post_entry(&client, &node, &agency, "logged.example.cn").await;
    listed(&client, &node, &agency, "logged.example.cn").await;
    let wrong = "sb_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    let response = client
        .get(node.url("/v1/check?domain=a.example.cn"))
        .bearer_auth(wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    client
        .delete(node.url(&format!("/v1/keys/{key_id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    node.kill();

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() > 5, "the log has content: {text}");
    for secret in [ADMIN, agency.as_str(), wrong, &agency[3..]] {
        assert!(!text.contains(secret), "a secret reached the log");
    }
    // The log is JSON lines, and requests carry their id.
    for line in text.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    assert!(text.contains("request_id"));
}

/// The standard error of a command, after asserting that it failed.
fn failed(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "the command succeeded: {stderr}");
    stderr
}

/// The standard output of a command, after asserting that it succeeded.
fn succeeded(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "the command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test]
async fn commands_work_through_a_running_node_on_the_embedded_store() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = embedded_env(&data);
    let node = Node::start(&env, dir.path().join("node.log"));
    node.wait_ready(&client).await;
    let (agency_id, agency) = make_key(&client, &node, "agency").await;
    let (_, auditor) = make_key(&client, &node, "auditor").await;
    assert_eq!(
        post_entry(&client, &node, &agency, "before.example.cn").await,
        201
    );
    let response = client
        .post(node.url("/v1/protected"))
        .bearer_auth(ADMIN)
        .json(&json!({"domain": "protected.example.cn", "note": "a public service"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // The commands run as an operator would, with the node's settings.
    let url = node.url("");
    let mut cli_env = env.clone();
    cli_env.push((
        "SITEBAN__SERVER__LISTEN",
        format!("127.0.0.1:{}", node.port),
    ));
    let admin_file = dir.path().join("admin.token");
    std::fs::write(&admin_file, format!("{ADMIN}\n")).unwrap();
    let agency_file = dir.path().join("agency.token");
    std::fs::write(&agency_file, format!("{agency}\n")).unwrap();
    let lines = [
        entry_body("new1.example.cn").to_string(),
        String::new(),
        entry_body("before.example.cn").to_string(),
        entry_body("protected.example.cn").to_string(),
        entry_body("new2.example.cn").to_string(),
        // Only a national telecom key may override a protection: refused for this line alone,
        // not taken for a key of the wrong role.
        {
            let mut body = entry_body("www.protected.example.cn");
            body["override_protection"] = json!({"justification": "court order"});
            body.to_string()
        },
    ];
    let file = dir.path().join("entries.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let file = file.to_str().unwrap();

    // Without --url, a server holding the embedded store gives advice, not redb's message.
    for args in [
        vec!["audit", "export"],
        vec!["audit", "verify"],
        vec!["import", file],
    ] {
        let said = failed(&siteban(&args, &cli_env));
        assert!(
            said.contains(&format!("using the store at {} (embedded)", data.display())),
            "{args:?}: {said}"
        );
        assert!(
            said.contains(&format!(
                "a running server holds the data directory {}",
                data.display()
            )),
            "{args:?}: {said}"
        );
        assert!(
            said.contains(&format!(
                "siteban {} --url {url} --token-file FILE",
                args.join(" ").replace(&format!(" {file}"), "")
            )),
            "{args:?}: {said}"
        );
        assert!(!said.contains("already open"), "{args:?}: {said}");
    }

    // The import goes through POST /v1/entries line by line: listed, skipped when already
    // listed, and each refusal named by its line.
    let out = siteban(
        &[
            "import",
            "--url",
            &url,
            "--token-file",
            agency_file.to_str().unwrap(),
            file,
        ],
        &cli_env,
    );
    let said = failed(&out);
    assert!(
        said.contains(&format!("using the running node at {url}")),
        "{said}"
    );
    assert!(said.contains("2 line(s) refused"), "{said}");
    assert!(said.contains("line 4: protected_domain: "), "{said}");
    assert!(
        said.contains("line 6: forbidden: only a national telecom key"),
        "{said}"
    );
    assert!(!said.contains(&agency), "the token was printed: {said}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "listed 2, waiting for review 0, skipped 1 (already listed), refused 2; 6 lines\n"
    );
    let entries: Value = client
        .get(node.url("/v1/entries?status=active"))
        .bearer_auth(&agency)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut domains: Vec<&str> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["domain"].as_str().unwrap())
        .collect();
    domains.sort_unstable();
    assert_eq!(
        domains,
        ["before.example.cn", "new1.example.cn", "new2.example.cn"]
    );
    // Each line is audited as the API audits a listing (`entry.submit`), by the token's key.
    let audit: Value = client
        .get(node.url("/v1/audit?limit=1000"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listings: Vec<(String, String, String)> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "entry.submit")
        .map(|r| {
            assert_eq!(r["actor"]["key_id"], agency_id.as_str());
            (
                r["target"].as_str().unwrap().to_string(),
                r["method"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (domain, outcome) in [
        ("new1.example.cn", "ok"),
        ("new2.example.cn", "ok"),
        ("before.example.cn", "already_listed"),
        ("protected.example.cn", "protected_domain"),
        ("www.protected.example.cn", "forbidden"),
    ] {
        assert!(
            listings.contains(&(domain.into(), "POST".into(), outcome.into())),
            "{domain} {outcome}: {listings:?}"
        );
    }

    // The audit log is exported and verified through the node, with a token from a file or
    // from the environment.
    let out = siteban(
        &[
            "audit",
            "export",
            "--url",
            &url,
            "--token-file",
            admin_file.to_str().unwrap(),
        ],
        &cli_env,
    );
    let exported = succeeded(&out);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("using the running node at {url}")),
        "{said}"
    );
    let records = exported.lines().count();
    assert!(records >= 9, "{exported}");
    let mut with_token = cli_env.clone();
    with_token.push(("SITEBAN_TOKEN", auditor.clone()));
    let verified = succeeded(&siteban(&["audit", "verify", "--url", &url], &with_token));
    assert!(
        verified.starts_with(&format!("ok: {records} records verified; chain head ")),
        "{verified}"
    );

    // Once the server stops, the store's own export is the same, byte for byte.
    drop(node);
    let out = siteban(&["audit", "export"], &cli_env);
    assert_eq!(succeeded(&out), exported);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("using the store at {} (embedded)", data.display())),
        "{said}"
    );
    // The same chain; on the store, also checked against the audit log's signed checkpoint,
    // with the key the store keeps (as far as the node signed it before it stopped).
    let chain: String = verified.split("; not checked").next().unwrap().to_string();
    let on_store = succeeded(&siteban(&["audit", "verify"], &cli_env));
    assert!(
        on_store.starts_with(&format!("{chain}; the first "))
            && on_store.ends_with(" are those the audit log's signed checkpoint covers\n"),
        "{on_store}"
    );
}

#[tokio::test]
async fn a_wrong_token_or_role_through_a_running_node_is_refused_clearly() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let env = embedded_env(dir.path());
    let node = Node::start(&env, dir.path().join("node.log"));
    node.wait_ready(&client).await;
    let (_, agency) = make_key(&client, &node, "agency").await;
    let url = node.url("");
    let token_file = |name: &str, token: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, token).unwrap();
        path.to_str().unwrap().to_string()
    };
    let wrong = "sb_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    let entries = dir.path().join("entries.ndjson");
    std::fs::write(&entries, entry_body("one.example.cn").to_string() + "\n").unwrap();
    let entries = entries.to_str().unwrap();

    let out = siteban(
        &[
            "audit",
            "export",
            "--url",
            &url,
            "--token-file",
            &token_file("wrong", wrong),
        ],
        &env,
    );
    let said = failed(&out);
    assert!(
        said.contains(&format!(
            "the node at {url} refused the token (401 unauthenticated)"
        )),
        "{said}"
    );
    assert!(!said.contains(wrong), "the token was printed: {said}");
    assert!(out.stdout.is_empty());

    let said = failed(&siteban(
        &[
            "audit",
            "verify",
            "--url",
            &url,
            "--token-file",
            &token_file("agency", &agency),
        ],
        &env,
    ));
    assert!(
        said.contains("(403 forbidden): reading the audit log needs an admin or auditor token"),
        "{said}"
    );

    let said = failed(&siteban(
        &[
            "import",
            "--url",
            &url,
            "--token-file",
            &token_file("admin", ADMIN),
            entries,
        ],
        &env,
    ));
    assert!(
        said.contains("(403 forbidden): listing needs an agency or telecom token"),
        "{said}"
    );
    assert_eq!(
        listed(&client, &node, &agency, "one.example.cn").await,
        Some(false)
    );

    let said = failed(&siteban(&["audit", "export", "--url", &url], &env));
    assert!(
        said.contains("--url needs a token: give --token-file PATH or set SITEBAN_TOKEN"),
        "{said}"
    );
    let said = failed(&siteban(
        &[
            "audit",
            "export",
            "--url",
            &url,
            "--token-file",
            &token_file("empty", "\n"),
        ],
        &env,
    ));
    assert!(said.contains("holds no token"), "{said}");
}
