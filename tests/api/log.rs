//! The transparency log, checked by a verifier of its own written from RFC 9162 and C2SP
//! (hashes, inclusion and consistency proofs, the signed note), not by the crates the
//! service uses: the checkpoint's signature, its root against the leaves of the feed and the
//! tiles, the proofs of events and entries, and a log that keeps proving what the feed's
//! retention has dropped.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{Store, TestApp, expect, spawn_app_with};

type H = [u8; 32];

fn sha(parts: &[&[u8]]) -> H {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

pub(crate) fn leaf_hash(leaf: &[u8]) -> H {
    sha(&[&[0], leaf])
}

fn node(left: &H, right: &H) -> H {
    sha(&[&[1], left, right])
}

/// RFC 9162 §2.1.1: the root of the tree over `leaves` (leaf hashes).
fn mth(leaves: &[H]) -> H {
    match leaves.len() {
        0 => sha(&[]),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.2.
pub(crate) fn verify_inclusion(index: u64, size: u64, leaf: H, proof: &[H], root: H) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == root
}

/// RFC 9162 §2.1.4.2.
fn verify_consistency(first: u64, second: u64, first_hash: H, second_hash: H, proof: &[H]) -> bool {
    if first == second {
        return proof.is_empty() && first_hash == second_hash;
    }
    if first == 0 || first > second || proof.is_empty() {
        return false;
    }
    let mut path = proof.to_vec();
    if first.is_power_of_two() {
        path.insert(0, first_hash);
    }
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node(c, &fr);
            sr = node(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == first_hash && sr == second_hash && s == 0
}

/// A checkpoint opened by hand (C2SP signed-note and tlog-checkpoint): the Ed25519 signature
/// of the pinned verifier key `name+id+key` over the text must hold.
pub(crate) fn open_checkpoint(note: &str, verifier: &str) -> (String, u64, H) {
    try_open_checkpoint(note, verifier).unwrap_or_else(|e| panic!("{e}: {note}"))
}

/// `open_checkpoint`, answering why a checkpoint does not open.
fn try_open_checkpoint(note: &str, verifier: &str) -> Result<(String, u64, H), String> {
    let mut parts = verifier.trim().splitn(3, '+');
    let (name, id, key) = (
        parts.next().ok_or("no key name")?,
        parts.next().ok_or("no key id")?,
        STANDARD
            .decode(parts.next().ok_or("no key")?)
            .map_err(|_| "a key not in base64")?,
    );
    if key.len() != 33 || key[0] != 1 {
        return Err("not an Ed25519 key".into());
    }
    let key_id = sha(&[name.as_bytes(), b"\n", &key]);
    if id != hex::encode(&key_id[..4]) {
        return Err("the key id is not the hash's first bytes".into());
    }
    let public = ed25519_dalek::VerifyingKey::from_bytes(&key[1..].try_into().unwrap())
        .map_err(|_| "not a point")?;
    let (text, signatures) = note.split_once("\n\n").ok_or("no text and signatures")?;
    let text = format!("{text}\n");
    let mut verified = false;
    for line in signatures.lines() {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or("not a signature line")?;
        let (signer, sig) = rest
            .split_once(' ')
            .ok_or("a signature line without a space")?;
        let sig = STANDARD
            .decode(sig)
            .map_err(|_| "a signature not in base64")?;
        if signer == name && sig.len() == 68 && sig[..4] == key_id[..4] {
            let signature = ed25519_dalek::Signature::from_slice(&sig[4..]).unwrap();
            public
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| "the log's signature does not hold")?;
            verified = true;
        }
    }
    if !verified {
        return Err("not signed by the pinned key".into());
    }
    let lines: Vec<&str> = text.lines().collect();
    let root = STANDARD
        .decode(lines.get(2).ok_or("no root line")?)
        .map_err(|_| "a root not in base64")?
        .try_into()
        .map_err(|_| "a root of the wrong length")?;
    Ok((
        lines[0].to_string(),
        lines[1].parse().map_err(|_| "a size that is no number")?,
        root,
    ))
}

pub(crate) fn hashes(values: &Value) -> Vec<H> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            STANDARD
                .decode(v.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

/// The leaf of a feed event as `docs/api.md` defines it.
fn leaf_of(event: &Value) -> String {
    format!(
        "siteban/event/v1\nseq {}\ntype {}\ndomain {}\nscope {}\nentry_id {}\ncategory {}\nat {}\n",
        event["seq"],
        event["type"].as_str().unwrap(),
        event["domain"].as_str().unwrap(),
        event["scope"].as_str().unwrap(),
        event["entry_id"].as_str().unwrap(),
        event["category"].as_str().unwrap(),
        event["at"].as_str().unwrap(),
    )
}

async fn text(app: &TestApp, token: &str, path: &str) -> String {
    let response = app.get(token, path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// A tile's bytes: hash tiles any cache may keep, entry bundles only their reader's.
async fn bytes(app: &TestApp, token: &str, path: &str) -> Vec<u8> {
    let response = app.get(token, path).await;
    assert_eq!(response.status(), 200, "{path}");
    let cache = if path.contains("/entries/") {
        "private, max-age=31536000, immutable"
    } else {
        "public, max-age=31536000, immutable"
    };
    assert_eq!(response.headers()["cache-control"], cache, "{path}");
    response.bytes().await.unwrap().to_vec()
}

/// Waits until the signed checkpoint covers `size` leaves; answers it opened.
async fn checkpoint_at(app: &TestApp, token: &str, verifier: &str, size: u64) -> (u64, H) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let note = text(app, token, "/v1/log/checkpoint").await;
        let (origin, at, root) = open_checkpoint(&note, verifier);
        assert_eq!(origin, "test.siteban.invalid/log");
        if at == size {
            return (at, root);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the checkpoint covers {at} leaves, not {size}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn list_many(app: &TestApp, token: &str, from: usize, to: usize) {
    for n in from..to {
        app.listed(token, &format!("log{n}.example.cn")).await;
    }
}

pub async fn the_log_proves_the_feed_with_tiles_and_proofs(store: Store) {
    let app = spawn_app_with(store, |s| {
        s.tlog.origin = "test.siteban.invalid/log".into();
    })
    .await;
    let agency = app.create_key("agency", None).await;
    let provider = app.create_key("dns_provider", None).await;
    let verifier = text(&app, &provider, "/v1/log/key").await;
    let (size, empty) = checkpoint_at(&app, &provider, &verifier, 0).await;
    assert_eq!((size, empty), (0, sha(&[])));

    list_many(&app, &agency, 0, 100).await;
    let (first, first_root) = checkpoint_at(&app, &provider, &verifier, 100).await;
    list_many(&app, &agency, 100, 290).await;
    for n in 0..10 {
        expect(
            app.lift(&agency, &format!("log{n}.example.cn")).await,
            200,
            "a lift",
        )
        .await;
    }
    let (size, root) = checkpoint_at(&app, &provider, &verifier, 300).await;

    // The leaves are the feed's events as docs/api.md spells them, and the root is theirs.
    let events = app.feed(&provider, "after=0&limit=1000").await["events"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(events.len(), 300);
    let leaves: Vec<H> = events
        .iter()
        .map(|e| leaf_hash(leaf_of(e).as_bytes()))
        .collect();
    assert_eq!(mth(&leaves), root, "the checkpoint's root is the feed's");
    assert_eq!(mth(&leaves[..100]), first_root);

    // The tiles: level 0 lists the leaf hashes, level 1 the root of each 256 of them; the
    // entry bundles hold the leaves.
    let full = bytes(&app, &provider, "/v1/log/tile/0/000").await;
    let partial = bytes(&app, &provider, "/v1/log/tile/0/001.p/44").await;
    assert_eq!([full, partial].concat(), leaves.concat());
    let upper = bytes(&app, &provider, "/v1/log/tile/1/000.p/1").await;
    assert_eq!(upper, mth(&leaves[..256]).to_vec());
    let bundle = bytes(&app, &provider, "/v1/log/tile/entries/001.p/44").await;
    let (length, rest) = bundle.split_at(2);
    let first_leaf = leaf_of(&events[256]);
    assert_eq!(
        u16::from_be_bytes([length[0], length[1]]) as usize,
        first_leaf.len()
    );
    assert!(rest.starts_with(first_leaf.as_bytes()));
    for (path, code) in [
        ("/v1/log/tile/0/001.p/45", "not_in_log"),
        ("/v1/log/tile/0/002", "not_in_log"),
        ("/v1/log/tile/0/1", "not_found"),
    ] {
        let body = expect(app.get(&provider, path).await, 404, path).await;
        assert_eq!(body["error"]["code"], code, "{path}");
    }

    // Inclusion proofs of events, against the latest tree and an older one.
    for seq in [1u64, 2, 100, 256, 257, 300] {
        let proof = expect(
            app.get(&provider, &format!("/v1/log/proof?seq={seq}"))
                .await,
            200,
            "a proof",
        )
        .await;
        assert_eq!(proof["size"], 300);
        assert_eq!(
            proof["leaf"].as_str().unwrap(),
            leaf_of(&events[seq as usize - 1])
        );
        let leaf = leaf_hash(proof["leaf"].as_str().unwrap().as_bytes());
        assert!(
            verify_inclusion(seq - 1, size, leaf, &hashes(&proof["proof"]), root),
            "{seq}"
        );
        assert!(!verify_inclusion(
            seq % 300,
            size,
            leaf,
            &hashes(&proof["proof"]),
            root
        ));
    }
    let old = expect(
        app.get(&provider, "/v1/log/proof?seq=7&size=100").await,
        200,
        "old",
    )
    .await;
    let leaf = leaf_hash(old["leaf"].as_str().unwrap().as_bytes());
    assert!(verify_inclusion(
        6,
        100,
        leaf,
        &hashes(&old["proof"]),
        first_root
    ));

    // Consistency between the two checkpoints, and a forged root caught.
    let proof = expect(
        app.get(&provider, &format!("/v1/log/consistency?from={first}"))
            .await,
        200,
        "a consistency proof",
    )
    .await;
    assert_eq!(proof["to"], 300);
    let path = hashes(&proof["proof"]);
    assert!(verify_consistency(first, size, first_root, root, &path));
    let mut forged = first_root;
    forged[0] ^= 1;
    assert!(!verify_consistency(first, size, forged, root, &path));

    // An entry's listing and lift, each proved.
    let proofs = expect(
        app.get(&agency, "/v1/entries/log3.example.cn/proof").await,
        200,
        "entry proofs",
    )
    .await;
    let proved = proofs["events"].as_array().unwrap();
    assert_eq!(proved.len(), 2);
    assert_eq!(proved[0]["event"]["type"], "listed");
    assert_eq!(proved[1]["event"]["type"], "lifted");
    for event in proved {
        let leaf = leaf_hash(event["leaf"].as_str().unwrap().as_bytes());
        let index = event["index"].as_u64().unwrap();
        assert!(verify_inclusion(
            index,
            size,
            leaf,
            &hashes(&event["proof"]),
            root
        ));
        assert_eq!(leaves[index as usize], leaf);
    }

    // A check may ask for the proof of the listing it finds.
    let checked = expect(
        app.get(
            &provider,
            "/v1/check?domain=www.log150.example.cn&proof=true",
        )
        .await,
        200,
        "a check with its proof",
    )
    .await;
    let proof = &checked["proof"];
    assert_eq!(proof["event"]["domain"], "log150.example.cn");
    let leaf = leaf_hash(proof["leaf"].as_str().unwrap().as_bytes());
    let index = proof["index"].as_u64().unwrap();
    assert!(verify_inclusion(
        index,
        size,
        leaf,
        &hashes(&proof["proof"]),
        root
    ));
    for path in [
        "/v1/check?domain=log150.example.cn",
        "/v1/check?domain=clean.example.cn&proof=true",
    ] {
        let body = expect(app.get(&provider, path).await, 200, path).await;
        assert!(body.get("proof").is_none(), "{body}");
    }
    let body = expect(
        app.get(&provider, "/v1/check?domain=a.example.cn&proof=yes")
            .await,
        400,
        "a bad proof parameter",
    )
    .await;
    assert_eq!(body["error"]["code"], "invalid_parameter");

    // Sizes the log does not have, and bad parameters.
    for (path, status, code) in [
        ("/v1/log/proof?seq=301", 404, "not_in_log"),
        ("/v1/log/proof?seq=1&size=301", 404, "not_in_log"),
        ("/v1/log/proof?seq=0", 404, "not_in_log"),
        ("/v1/log/proof", 400, "invalid_parameter"),
        ("/v1/log/proof?seq=x", 400, "invalid_parameter"),
        ("/v1/log/consistency?from=301", 404, "not_in_log"),
        ("/v1/log/consistency?from=0", 404, "not_in_log"),
        ("/v1/log/consistency", 400, "invalid_parameter"),
    ] {
        let body = expect(app.get(&provider, path).await, status, path).await;
        assert_eq!(body["error"]["code"], code, "{path}");
    }

    // The snapshot and the zone say which tree they match.
    for path in ["/v1/snapshot", "/v1/rpz"] {
        let response = app.get(&provider, path).await;
        assert_eq!(response.headers()["x-log-size"], "300", "{path}");
    }
}

pub async fn the_log_outlives_the_feeds_retention(store: Store) {
    let app = spawn_app_with(store, |s| {
        s.tlog.origin = "test.siteban.invalid/log".into();
        s.feed.retention = 5;
    })
    .await;
    let agency = app.create_key("agency", None).await;
    let auditor = app.create_key("auditor", None).await;
    let verifier = text(&app, &auditor, "/v1/log/key").await;
    let mut leaves = Vec::new();
    for n in 0..270 {
        let domain = format!("kept{n}.example.cn");
        app.listed(&agency, &domain).await;
        // Read while the feed holds it: the log keeps the hash of every event.
        let page = app.feed(&auditor, &format!("after={n}&limit=1")).await;
        if let Some(event) = page["events"].as_array().and_then(|e| e.first()) {
            leaves.push(leaf_hash(leaf_of(event).as_bytes()));
        }
    }
    let (size, root) = checkpoint_at(&app, &auditor, &verifier, 270).await;
    let response = app.get(&auditor, "/v1/feed?after=0").await;
    assert_eq!(response.status(), 410, "the feed dropped the oldest events");

    // The hashes of every event remain, and make the signed root.
    let full = bytes(&app, &auditor, "/v1/log/tile/0/000").await;
    let partial = bytes(&app, &auditor, "/v1/log/tile/0/001.p/14").await;
    let tiled: Vec<H> = [full, partial]
        .concat()
        .chunks(32)
        .map(|c| c.try_into().unwrap())
        .collect();
    assert_eq!(mth(&tiled), root);
    if leaves.len() == 270 {
        assert_eq!(tiled, leaves);
    }
    // The first listing, long gone from the feed, is proved from its entry.
    let proofs = expect(
        app.get(&agency, "/v1/entries/kept0.example.cn/proof").await,
        200,
        "entry proofs",
    )
    .await;
    let event = &proofs["events"][0];
    assert_eq!(event["index"], 0);
    let leaf = leaf_hash(event["leaf"].as_str().unwrap().as_bytes());
    assert!(verify_inclusion(
        0,
        size,
        leaf,
        &hashes(&event["proof"]),
        root
    ));
    // The dropped events' bundle is gone; their proof by sequence says so.
    let body = expect(
        app.get(&auditor, "/v1/log/tile/entries/000").await,
        404,
        "bundle",
    )
    .await;
    assert_eq!(body["error"]["code"], "not_in_log");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The service's tree, tiles and proofs at random sizes, checked by this file's verifier.
    #[test]
    fn every_proof_between_random_sizes_verifies(size in 1u64..1300, picks in prop::collection::vec((0u64..1300, 1u64..1300), 6)) {
        use siteban::tlog::{Reader, Tree, tiles_needed};
        let leaves: Vec<H> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut tree = Tree::empty();
        let mut tiles = std::collections::BTreeMap::new();
        let mut roots = Vec::new();
        for leaf in &leaves {
            tree.append(tlog_tiles::Hash(*leaf));
            roots.push(tree.root().0);
        }
        tiles.extend(tree.take_changed());
        prop_assert_eq!(tree.root().0, mth(&leaves));
        for (index, old) in picks {
            let (index, old) = (index % size, old % size + 1);
            let held = |needed: Vec<((u8, u64), u64)>| {
                let mut held = std::collections::BTreeMap::new();
                for (id, width) in needed {
                    held.insert(id, tiles[&id][..width as usize * 32].to_vec());
                }
                Reader::Tiles(held)
            };
            let reader = held(tiles_needed(size, |r: &Reader| tlog_tiles::prove_record(size, index, r)));
            let proof = tlog_tiles::prove_record(size, index, &reader).unwrap();
            let proof: Vec<H> = proof.iter().map(|h| h.0).collect();
            prop_assert!(verify_inclusion(index, size, leaves[index as usize], &proof, mth(&leaves)));
            let reader = held(tiles_needed(size, |r: &Reader| tlog_tiles::prove_tree(size, old, r)));
            let consistency = tlog_tiles::prove_tree(size, old, &reader).unwrap();
            let consistency: Vec<H> = consistency.iter().map(|h| h.0).collect();
            prop_assert!(verify_consistency(old, size, roots[old as usize - 1], mth(&leaves), &consistency));
            prop_assert_eq!(roots[old as usize - 1], mth(&leaves[..old as usize]));
        }
    }
}

/// `siteban log-key` makes a key file that a node signs with, and prints the verifier key the
/// node then publishes; the file is its owner's alone, and is never overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_by_the_command_signs_the_checkpoints() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log.key");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_siteban"))
            .args(["log-key", "--origin", "test.siteban.invalid/log", "--out"])
            .arg(&file)
            .output()
            .unwrap()
    };
    let made = run();
    assert!(made.status.success(), "{made:?}");
    let printed = String::from_utf8(made.stdout).unwrap();
    assert!(
        printed.starts_with("test.siteban.invalid/log+"),
        "{printed}"
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!run().status.success(), "an existing key file is kept");

    let key_file = file.clone();
    let app = spawn_app_with(Store::Embedded, move |s| {
        s.tlog.origin = "test.siteban.invalid/log".into();
        s.tlog.key_file = Some(key_file);
    })
    .await;
    let auditor = app.create_key("auditor", None).await;
    assert_eq!(text(&app, &auditor, "/v1/log/key").await, printed);
    let agency = app.create_key("agency", None).await;
    list_many(&app, &agency, 0, 3).await;
    checkpoint_at(&app, &auditor, &printed, 3).await;
}

const FORK_ADMIN: &str = "fork-test-admin-token-0123456789";
const FORK_ORIGIN: &str = "fork.siteban.invalid/log";

/// A `siteban serve` on the embedded store in `dir`, signing with `key_file`.
fn fork_node(dir: &std::path::Path, key_file: &std::path::Path) -> crate::helpers::Node {
    crate::helpers::Node::start(
        &[
            ("SITEBAN__STORE__BACKEND", "embedded".into()),
            ("SITEBAN__STORE__PATH", dir.display().to_string()),
            ("SITEBAN__AUTH__ADMIN_TOKEN", FORK_ADMIN.into()),
            ("SITEBAN__TLOG__ORIGIN", FORK_ORIGIN.into()),
            ("SITEBAN__TLOG__KEY_FILE", key_file.display().to_string()),
        ],
        dir.with_extension("log"),
    )
}

async fn fork_post(client: &reqwest::Client, url: String, token: &str, body: &Value) -> Value {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

/// Waits until `node`'s checkpoint covers `size` leaves.
async fn fork_checkpoint(
    client: &reqwest::Client,
    node: &crate::helpers::Node,
    token: &str,
    size: u64,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = client
            .get(node.url("/v1/log/checkpoint"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if response.headers()["x-log-size"] == size.to_string().as_str() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of {size}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `siteban verify` as a provider runs it; answers its exit status and what it printed.
pub(crate) fn run_verify(
    node: &crate::helpers::Node,
    dir: &std::path::Path,
    key: &str,
    list: &[&str],
) -> (i32, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_siteban"))
        .args(["verify", "--url", &node.url(""), "--key", key.trim()])
        .arg("--token-file")
        .arg(dir.join("token"))
        .arg("--state")
        .arg(dir.join("state.json"))
        .args(list)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), said)
}

/// Two stores that share a history and then diverge, served under the same key: a provider
/// that verified one of them catches the other as a split view; a snapshot or a zone that is
/// not the list the log makes fails; the genuine ones pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn siteban_verify_catches_a_forked_feed_and_a_doctored_list() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("log.key");
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_siteban"))
        .args(["log-key", "--origin", FORK_ORIGIN, "--out"])
        .arg(&key_file)
        .output()
        .unwrap();
    let verifier = String::from_utf8(made.stdout).unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));

    // The common history: five listings on one store.
    let mut a = fork_node(&a_dir, &key_file);
    a.wait_ready(&client).await;
    let agency = fork_post(
        &client,
        a.url("/v1/keys"),
        FORK_ADMIN,
        &serde_json::json!({"name": "agency", "role": "agency"}),
    )
    .await;
    let agency = agency["token"].as_str().unwrap().to_string();
    let auditor = fork_post(
        &client,
        a.url("/v1/keys"),
        FORK_ADMIN,
        &serde_json::json!({"name": "auditor", "role": "auditor"}),
    )
    .await;
    let auditor = auditor["token"].as_str().unwrap().to_string();
    std::fs::write(dir.path().join("token"), &auditor).unwrap();
    for n in 0..5 {
        fork_post(
            &client,
            a.url("/v1/entries"),
            &agency,
            &crate::helpers::entry_body(&format!("common{n}.example.cn")),
        )
        .await;
    }
    fork_checkpoint(&client, &a, &auditor, 5).await;
    a.kill();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(&a_dir)
        .arg(&b_dir)
        .status()
        .unwrap();
    assert!(copied.success());

    // The fork: each store takes listings the other never sees.
    let a = fork_node(&a_dir, &key_file);
    let b = fork_node(&b_dir, &key_file);
    a.wait_ready(&client).await;
    b.wait_ready(&client).await;
    fork_post(
        &client,
        a.url("/v1/entries"),
        &agency,
        &crate::helpers::entry_body("only-a.example.cn"),
    )
    .await;
    let lift = crate::helpers::lift_body();
    fork_post(
        &client,
        a.url("/v1/entries/common0.example.cn/lift"),
        &agency,
        &lift,
    )
    .await;
    for name in ["only-b.example.cn", "also-b.example.cn"] {
        fork_post(
            &client,
            b.url("/v1/entries"),
            &agency,
            &crate::helpers::entry_body(name),
        )
        .await;
    }
    fork_checkpoint(&client, &a, &auditor, 7).await;
    fork_checkpoint(&client, &b, &auditor, 7).await;

    // A's log, and its snapshot and zone, verify.
    let (status, said) = run_verify(&a, dir.path(), &verifier, &[]);
    assert_eq!(status, 0, "{said}");
    let snapshot = dir.path().join("snapshot.json");
    let zone = dir.path().join("zone.rpz");
    for (path, file) in [("/v1/snapshot", &snapshot), ("/v1/rpz", &zone)] {
        let body = client
            .get(a.url(path))
            .bearer_auth(&auditor)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        std::fs::write(file, body).unwrap();
    }
    let (status, said) = run_verify(
        &a,
        dir.path(),
        &verifier,
        &["--snapshot", snapshot.to_str().unwrap()],
    );
    assert_eq!(status, 0, "{said}");
    assert!(said.contains("the list of 5 items"), "{said}");
    let (status, said) = run_verify(
        &a,
        dir.path(),
        &verifier,
        &["--rpz", zone.to_str().unwrap()],
    );
    assert_eq!(status, 0, "{said}");

    // B signs a tree of the same size with another root: a split view.
    let (status, said) = run_verify(&b, dir.path(), &verifier, &[]);
    assert_eq!(status, 1, "{said}");
    assert!(said.contains("split view"), "{said}");

    // B grows; its tree is still no extension of A's.
    fork_post(
        &client,
        b.url("/v1/entries"),
        &agency,
        &crate::helpers::entry_body("more-b.example.cn"),
    )
    .await;
    fork_checkpoint(&client, &b, &auditor, 8).await;
    let (status, said) = run_verify(&b, dir.path(), &verifier, &[]);
    assert_eq!(status, 1, "{said}");
    assert!(said.contains("not an extension"), "{said}");

    // A snapshot with a name taken out, and a zone with a name slipped in, fail against A.
    let text = std::fs::read_to_string(&snapshot).unwrap();
    let mut doctored: Value = serde_json::from_str(&text).unwrap();
    doctored["entries"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["domain"] != "only-a.example.cn");
    std::fs::write(&snapshot, doctored.to_string()).unwrap();
    let (status, said) = run_verify(
        &a,
        dir.path(),
        &verifier,
        &["--snapshot", snapshot.to_str().unwrap()],
    );
    assert_eq!(status, 1, "{said}");
    assert!(said.contains("only-a.example.cn is missing"), "{said}");
    let mut text = std::fs::read_to_string(&zone).unwrap();
    text.push_str("common0.example.cn CNAME .\n");
    std::fs::write(&zone, text).unwrap();
    let (status, said) = run_verify(
        &a,
        dir.path(),
        &verifier,
        &["--rpz", zone.to_str().unwrap()],
    );
    assert_eq!(status, 1, "{said}");
    assert!(said.contains("common0.example.cn is in the zone"), "{said}");

    // Another key's checkpoint is refused; the state still holds A's.
    let other = "other.invalid+01020304+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let (status, said) = run_verify(&a, dir.path(), other, &[]);
    assert_ne!(status, 0, "{said}");
    let (status, said) = run_verify(&a, dir.path(), &verifier, &[]);
    assert_eq!(status, 0, "{said}");
    drop((a, b));
}

/// `siteban audit verify` on an export, as an auditor runs it; answers its exit status and
/// what it printed.
fn audit_verify(file: &std::path::Path, extra: &[&std::ffi::OsStr]) -> (i32, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_siteban"))
        .args(["audit", "verify"])
        .arg(file)
        .args(extra)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), said)
}

/// Records `records` as an export, each chained again after the one before (what a forger
/// who recomputes every later hash writes).
fn rechained(records: &[siteban::audit::AuditRecord]) -> String {
    let mut out = String::new();
    let (mut seq, mut prev) = (0, siteban::audit::GENESIS.to_string());
    for record in records {
        let again = siteban::audit::AuditRecord::chain(record.event.clone(), seq, &prev);
        (seq, prev) = (again.seq, again.sha256.clone());
        out.push_str(&serde_json::to_string(&again).unwrap());
        out.push('\n');
    }
    out
}

/// The audit log has a Merkle log of its own with signed checkpoints: an export verifies
/// against one, and each tampering an insider could try (records cut from the end, one
/// altered and every later hash recomputed, one removed and the rest renumbered, an empty
/// file) is caught; on the live store, records taken off the end turn the node not ready.
pub async fn audit_tampering_is_caught_against_the_signed_checkpoint(store: Store) {
    let app = spawn_app_with(store, |s| {
        s.tlog.origin = "test.siteban.invalid/log".into();
    })
    .await;
    let auditor = app.create_key("auditor", None).await;
    let agency = app.create_key("agency", None).await;
    list_many(&app, &agency, 0, 6).await;
    let records: Vec<siteban::audit::AuditRecord> = serde_json::from_value(
        app.get(&auditor, "/v1/audit?limit=1000")
            .await
            .json::<Value>()
            .await
            .unwrap()["records"]
            .clone(),
    )
    .unwrap();
    let count = records.len() as u64;
    assert!(count >= 8, "{count} records");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let note = loop {
        let response = app.get(&auditor, "/v1/audit/checkpoint").await;
        assert_eq!(response.status(), 200);
        if response.headers()["x-log-size"] == count.to_string().as_str() {
            break response.bytes().await.unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit checkpoint of {count}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let key = text(&app, &auditor, "/v1/log/key").await;
    let dir = tempfile::tempdir().unwrap();
    let (file, checkpoint) = (
        dir.path().join("audit.ndjson"),
        dir.path().join("audit.checkpoint"),
    );
    std::fs::write(&checkpoint, &note).unwrap();
    let anchored = [
        std::ffi::OsStr::new("--key"),
        std::ffi::OsStr::new(key.trim()),
        std::ffi::OsStr::new("--checkpoint"),
        checkpoint.as_os_str(),
    ];
    let lines: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();

    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (status, said) = audit_verify(&file, &anchored);
    assert_eq!(status, 0, "{said}");
    assert!(
        said.contains(&format!("the first {count} are those")),
        "{said}"
    );
    let (status, said) = audit_verify(&file, &[]);
    assert_eq!(
        (status, said.contains("not checked against")),
        (0, true),
        "{said}"
    );

    // The last two records cut off: the chain is whole, the checkpoint says otherwise.
    std::fs::write(&file, lines[..lines.len() - 2].join("\n")).unwrap();
    assert_eq!(audit_verify(&file, &[]).0, 0, "the chain alone cannot tell");
    let (status, said) = audit_verify(&file, &anchored);
    assert_eq!(status, 1, "{said}");
    assert!(said.contains("removed from its end"), "{said}");

    // One record altered, every later hash computed again.
    let mut altered = records.clone();
    altered[2].event.target = "innocent.example.cn".into();
    std::fs::write(&file, rechained(&altered)).unwrap();
    assert_eq!(audit_verify(&file, &[]).0, 0, "the chain alone cannot tell");
    let (status, said) = audit_verify(&file, &anchored);
    assert_eq!(status, 1, "{said}");
    assert!(
        said.contains("not the ones the signed checkpoint covers"),
        "{said}"
    );

    // One record removed, the rest renumbered and chained again (and one more made up, so
    // that the count is right).
    let mut renumbered = records.clone();
    renumbered.remove(1);
    renumbered.push(records[0].clone());
    std::fs::write(&file, rechained(&renumbered)).unwrap();
    let (status, said) = audit_verify(&file, &anchored);
    assert_eq!(status, 1, "{said}");

    // Nothing at all.
    std::fs::write(&file, "").unwrap();
    for extra in [&anchored[..], &[]] {
        let (status, said) = audit_verify(&file, extra);
        assert_eq!(status, 1, "{said}");
        assert!(said.contains("no audit record"), "{said}");
    }

    // On the live Redis store: the last record popped off the list.
    if store == Store::Redis {
        let url = app.registry.settings.store.redis_url.clone();
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: Option<Vec<u8>> = redis::cmd("RPOP")
            .arg("{siteban}:audit")
            .query_async(&mut conn)
            .await
            .unwrap();
        let reason = not_ready_reason(&app).await;
        assert!(reason.contains("audit log"), "{reason}");
        let metrics = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("siteban_audit_failures_total") && !l.ends_with(" 0")),
            "{metrics}"
        );
    }
}

/// On Redis, the audit log's tree and checkpoint taken back to nothing (so that rewritten
/// records could be signed again) turn a running node not ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_log_taken_back_is_caught_by_a_running_node() {
    let app = spawn_app_with(Store::Redis, |_| {}).await;
    let auditor = app.create_key("auditor", None).await;
    app.create_key("agency", None).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.get(&auditor, "/v1/audit/checkpoint").await;
        if response.headers()["x-log-size"] == "2" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit checkpoint of 2"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = redis::Client::open(app.registry.settings.store.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg("{siteban}:auditlog:checkpoint")
        .arg("{siteban}:auditlog:size")
        .query_async(&mut conn)
        .await
        .unwrap();
    let reason = not_ready_reason(&app).await;
    assert!(
        reason.contains("went back") || reason.contains("fewer than"),
        "{reason}"
    );
}

/// The reason `/readyz` gives once it answers 503, within 10 s.
async fn not_ready_reason(app: &TestApp) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        if response.status() == 503 {
            let body: Value = response.json().await.unwrap();
            return body["reason"].as_str().unwrap().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "/readyz stayed 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// On the embedded store: a record deleted from the database while the node was down is
/// caught at the next start (not ready), and by `siteban audit verify` on the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_deleted_from_the_embedded_store_is_caught_at_start() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let env = vec![
        ("SITEBAN__STORE__BACKEND", "embedded".to_string()),
        ("SITEBAN__STORE__PATH", store.display().to_string()),
        ("SITEBAN__AUTH__ADMIN_TOKEN", FORK_ADMIN.to_string()),
    ];
    let mut node = crate::helpers::Node::start(&env, dir.path().join("node.log"));
    node.wait_ready(&client).await;
    for role in ["agency", "auditor", "telecom"] {
        fork_post(
            &client,
            node.url("/v1/keys"),
            FORK_ADMIN,
            &serde_json::json!({"name": role, "role": role}),
        )
        .await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = client
            .get(node.url("/v1/audit/checkpoint"))
            .bearer_auth(FORK_ADMIN)
            .send()
            .await
            .unwrap();
        if response.headers()["x-log-size"] == "3" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit checkpoint of 3"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.kill();

    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_siteban"))
            .args(["audit", "verify"])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap()
    };
    let intact = verify();
    assert!(intact.status.success(), "{intact:?}");
    {
        let db = redb::Database::open(store.join("siteban.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("audit");
            let mut audit = txn.open_table(table).unwrap();
            audit.remove(3).unwrap();
        }
        txn.commit().unwrap();
    }
    let cut = verify();
    assert_eq!(cut.status.code(), Some(1), "{cut:?}");
    assert!(
        String::from_utf8_lossy(&cut.stdout).contains("removed from its end"),
        "{cut:?}"
    );

    let node = crate::helpers::Node::start(&env, dir.path().join("node.log"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(node.url("/readyz")).send().await
            && response.status() == 503
        {
            let body: Value = response.json().await.unwrap();
            assert!(
                body["reason"].as_str().unwrap().contains("audit log"),
                "{body}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node did not report the cut"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A witness as C2SP `tlog-witness` and `tlog-cosignature` describe it, written for these
/// tests from the specifications alone: it cosigns a checkpoint of the one log it knows only
/// when its signature holds and it is consistent with the latest one it cosigned.
pub(crate) struct TestWitness {
    pub(crate) name: String,
    pub(crate) signing: ed25519_dalek::SigningKey,
    pub(crate) log_key: String,
    /// The latest checkpoint cosigned: size, root.
    pub(crate) latest: std::sync::Mutex<(u64, H)>,
    /// Answers other than 200 and 409, by status.
    pub(crate) refused: std::sync::Mutex<Vec<u16>>,
}

/// A signer key for the log `origin`, written to `dir/log.key`; answers the file and the
/// verifier key.
pub(crate) fn log_key_file(dir: &std::path::Path, origin: &str) -> (std::path::PathBuf, String) {
    let skey = siteban::tlog::generate_key(origin).unwrap();
    let verifier = siteban::tlog::LogKey::new(&skey, origin)
        .unwrap()
        .verifier()
        .to_string();
    let key_file = dir.join("log.key");
    std::fs::write(&key_file, &skey).unwrap();
    (key_file, verifier)
}

impl TestWitness {
    /// The witness `name`, its key made from `seed`, of the log whose verifier key is
    /// `log_key`; it has cosigned nothing yet.
    pub(crate) fn new(name: &str, seed: u8, log_key: &str) -> std::sync::Arc<TestWitness> {
        std::sync::Arc::new(TestWitness {
            name: name.into(),
            signing: ed25519_dalek::SigningKey::from_bytes(&[seed; 32]),
            log_key: log_key.into(),
            latest: std::sync::Mutex::new((0, sha(&[]))),
            refused: std::sync::Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn vkey(&self) -> String {
        let public = self.signing.verifying_key().to_bytes();
        let id = sha(&[self.name.as_bytes(), b"\n", &[4], &public]);
        let key = [&[4u8][..], &public].concat();
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(&id[..4]),
            STANDARD.encode(key)
        )
    }

    /// `add-checkpoint`: the status and body of the answer.
    fn add_checkpoint(&self, body: &str) -> (u16, String) {
        let Some((head, note)) = body.split_once("\n\n") else {
            return (400, "no empty line".into());
        };
        let mut lines = head.lines();
        let Some(old) = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return (400, "no old size".into());
        };
        let Some(proof) = lines
            .map(|l| STANDARD.decode(l).ok().and_then(|h| <H>::try_from(h).ok()))
            .collect::<Option<Vec<H>>>()
        else {
            return (400, "a proof line is not a hash".into());
        };
        let Ok((origin, size, root)) = try_open_checkpoint(note, &self.log_key) else {
            return (403, "not signed by the log's key".into());
        };
        if origin != self.log_key.split('+').next().unwrap() {
            return (404, "unknown log".into());
        }
        if old > size {
            return (400, "old is larger than the checkpoint".into());
        }
        let mut latest = self.latest.lock().unwrap();
        if old != latest.0 {
            return (409, format!("{}\n", latest.0));
        }
        let consistent = if old == 0 {
            proof.is_empty()
        } else if old == size {
            if root != latest.1 {
                return (409, format!("{}\n", latest.0));
            }
            true
        } else {
            verify_consistency(old, size, latest.1, root, &proof)
        };
        if !consistent {
            return (422, "the consistency proof does not verify".into());
        }
        *latest = (size, root);
        use ed25519_dalek::Signer;
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let text = format!("{}\n", note.split_once("\n\n").unwrap().0);
        let message = format!("cosignature/v1\ntime {time}\n{text}");
        let signature = self.signing.sign(message.as_bytes()).to_bytes();
        let public = self.signing.verifying_key().to_bytes();
        let id = sha(&[self.name.as_bytes(), b"\n", &[4], &public]);
        let cosignature = [&id[..4], &time.to_be_bytes()[..], &signature[..]].concat();
        (
            200,
            format!("\u{2014} {} {}\n", self.name, STANDARD.encode(cosignature)),
        )
    }
}

/// Serves `witness` on a free port; answers its submission prefix.
pub(crate) fn serve_witness(witness: std::sync::Arc<TestWitness>) -> String {
    let port = crate::helpers::free_port();
    let server = actix_web::HttpServer::new(move || {
        let witness = std::sync::Arc::clone(&witness);
        actix_web::App::new().route(
            "/w/add-checkpoint",
            actix_web::web::post().to(move |body: String| {
                let witness = std::sync::Arc::clone(&witness);
                async move {
                    let (status, answer) = witness.add_checkpoint(&body);
                    if status != 200 && status != 409 {
                        witness.refused.lock().unwrap().push(status);
                    }
                    let content = if status == 409 {
                        "text/x.tlog.size"
                    } else {
                        "text/plain"
                    };
                    actix_web::HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status).unwrap(),
                    )
                    .content_type(content)
                    .body(answer)
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}/w")
}

/// Each new checkpoint goes to the witness, which checks it is consistent with what it saw
/// before and cosigns it; the registry serves it cosigned, and `siteban verify --witness`
/// takes it. A registry of the same key that forked from the history the witness saw gets
/// no cosignature, and a verifier that asks for one is not satisfied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_what_is_consistent_and_refuses_a_fork() {
    const ORIGIN: &str = "witnessed.siteban.invalid/log";
    let dir = tempfile::tempdir().unwrap();
    let (key_file, log_key) = log_key_file(dir.path(), ORIGIN);
    let witness = TestWitness::new("witness.test.invalid/w1", 7, &log_key);
    let url = serve_witness(std::sync::Arc::clone(&witness));
    let settings = |s: &mut siteban::settings::Settings,
                    key_file: std::path::PathBuf,
                    url: String,
                    vkey: String| {
        s.tlog.origin = ORIGIN.into();
        s.tlog.key_file = Some(key_file);
        s.tlog.witnesses = vec![siteban::settings::WitnessSettings { url, key: vkey }];
    };
    let (k, u, v) = (key_file.clone(), url.clone(), witness.vkey());
    let app = spawn_app_with(Store::Embedded, move |s| settings(s, k, u, v)).await;
    let agency = app.create_key("agency", None).await;
    let auditor = app.create_key("auditor", None).await;
    list_many(&app, &agency, 0, 5).await;

    // The registry serves the checkpoint with the witness's cosignature, which verifies.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let note = loop {
        let response = app.get(&auditor, "/v1/log/witnessed").await;
        if response.status() == 200 && response.headers()["x-log-size"] == "5" {
            break response.text().await.unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no witnessed checkpoint of 5"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (_, size, root) = open_checkpoint(&note, &log_key);
    assert_eq!((size, root), *witness.latest.lock().unwrap());
    let cosignature = note
        .lines()
        .find(|l| l.starts_with("\u{2014} witness.test.invalid/w1 "))
        .expect("a cosignature line");
    let bytes = STANDARD
        .decode(cosignature.rsplit(' ').next().unwrap())
        .unwrap();
    let time = u64::from_be_bytes(bytes[4..12].try_into().unwrap());
    let text = format!("{}\n", note.split_once("\n\n").unwrap().0);
    let message = format!("cosignature/v1\ntime {time}\n{text}");
    witness
        .signing
        .verifying_key()
        .verify_strict(
            message.as_bytes(),
            &ed25519_dalek::Signature::from_slice(&bytes[12..]).unwrap(),
        )
        .expect("the cosignature holds");

    // Who may read it: those who read the feed.
    let response = app
        .client
        .get(app.url("/v1/log/witnessed"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body = expect(
        app.get(&app.admin_token, "/v1/log/witnessed").await,
        403,
        "admin",
    )
    .await;
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(app.get(&agency, "/v1/log/witnessed").await.status(), 200);

    // siteban verify with the witness's key takes it; with another witness's key, not.
    std::fs::write(dir.path().join("token"), &auditor).unwrap();
    let verify = |witness_key: &str, state: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_siteban"))
            .args([
                "verify",
                "--url",
                &app.address,
                "--key",
                &log_key,
                "--witness",
                witness_key,
            ])
            .arg("--token-file")
            .arg(dir.path().join("token"))
            .arg("--state")
            .arg(dir.path().join(state))
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (status, said) = verify(&witness.vkey(), "a.json");
    assert_eq!(status, 0, "{said}");
    let other = TestWitness {
        name: "witness.test.invalid/w1".into(),
        signing: ed25519_dalek::SigningKey::from_bytes(&[8; 32]),
        log_key: log_key.clone(),
        latest: std::sync::Mutex::new((0, sha(&[]))),
        refused: std::sync::Mutex::new(Vec::new()),
    };
    let (status, said) = verify(&other.vkey(), "b.json");
    assert_eq!(status, 2, "{said}");
    assert!(said.contains("not cosigned by the witness"), "{said}");

    // A fork under the same key: its longer history is not consistent with what the
    // witness cosigned, so the witness refuses it and it has nothing witnessed to serve.
    let (k, u, v) = (key_file.clone(), url.clone(), witness.vkey());
    let fork = spawn_app_with(Store::Embedded, move |s| settings(s, k, u, v)).await;
    let fork_agency = fork.create_key("agency", None).await;
    let fork_auditor = fork.create_key("auditor", None).await;
    list_many(&fork, &fork_agency, 100, 108).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !witness.refused.lock().unwrap().contains(&422) {
        assert!(
            std::time::Instant::now() < deadline,
            "the witness was not asked to cosign the fork"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = expect(
        fork.get(&fork_auditor, "/v1/log/witnessed").await,
        404,
        "no witnessed checkpoint",
    )
    .await;
    assert_eq!(body["error"]["code"], "not_in_log");
    assert_eq!(
        witness.latest.lock().unwrap().0,
        5,
        "the witness kept the history it saw"
    );
}
