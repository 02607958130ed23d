//! Signed documents: an upload stored once under its SHA-256 on every store, read back by the
//! roles that may, refused when it is not what it says or too large, the `document_uploaded`
//! flag beside every hash an entry, a lift or a case shows, and a provider's key limited to the
//! documents of entries its provider was told about.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    DEADLINE, RedisServer, Store, TestApp, entry_body, eventually, expect, spawn_app,
    spawn_app_on_redis, spawn_app_with,
};

fn pdf(tag: &str) -> Vec<u8> {
    format!("%PDF-1.7\n% {tag}\n%%EOF\n").into_bytes()
}

fn png(tag: &str) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend_from_slice(tag.as_bytes());
    bytes
}

fn jpeg(tag: &str) -> Vec<u8> {
    let mut bytes = b"\xff\xd8\xff\xe0\0\x10JFIF\0".to_vec();
    bytes.extend_from_slice(tag.as_bytes());
    bytes
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn upload(app: &TestApp, token: &str, content_type: &str, bytes: &[u8]) -> reqwest::Response {
    app.client
        .post(app.url("/v1/documents"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

/// Uploads `bytes` as a PDF and expects `201`.
async fn uploaded(app: &TestApp, token: &str, bytes: &[u8]) -> Value {
    expect(
        upload(app, token, "application/pdf", bytes).await,
        201,
        "uploading",
    )
    .await
}

/// The status and JSON body of a GET.
async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let response = app.get(token, path).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Lists `domain` under a decision naming `hash`; answers the entry.
async fn list_naming(
    app: &TestApp,
    token: &str,
    domain: &str,
    hash: &str,
    providers: &[&Value],
) -> Value {
    let mut body = entry_body(domain);
    body["decision"]["document_sha256"] = json!(hash.to_uppercase());
    if !providers.is_empty() {
        body["providers"] = json!(
            providers
                .iter()
                .map(|p| p["id"].clone())
                .collect::<Vec<_>>()
        );
    }
    expect(app.post(token, "/v1/entries", &body).await, 201, "listing").await
}

async fn stored_once_and_read_back(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    let telecom = app.create_key("telecom", Some("31")).await;
    let auditor = app.create_key("auditor", None).await;
    let bytes = pdf("京市监处罚〔2024〕123号");
    let hash = sha256(&bytes);
    let response = upload(&app, &agency, "application/pdf", &bytes).await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!("/v1/documents/{hash}")
    );
    let first: Value = response.json().await.unwrap();
    assert_eq!(first["sha256"], hash);
    assert_eq!(first["content_type"], "application/pdf");
    assert_eq!(first["size"], bytes.len());
    assert_eq!(first["uploaded_by"]["role"], "agency");
    assert_eq!(first["referenced_by"], json!([]));

    // The same bytes again, by another key: nothing new is stored.
    let again = expect(
        upload(&app, &telecom, "Application/PDF; name=decision.pdf", &bytes).await,
        200,
        "uploading again",
    )
    .await;
    assert_eq!(again, first);

    for token in [&agency, &telecom, &auditor, &app.admin_token] {
        let response = app.get(token, &format!("/v1/documents/{hash}")).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/pdf");
        assert_eq!(headers["etag"].to_str().unwrap(), format!("\"{hash}\""));
        assert_eq!(headers["cache-control"], "private, immutable");
        assert_eq!(
            headers["content-disposition"].to_str().unwrap(),
            format!("attachment; filename=\"{hash}.pdf\"")
        );
        assert_eq!(response.bytes().await.unwrap(), bytes);
    }
    // Named in upper case too; and a client holding it is told so.
    let response = app
        .client
        .get(app.url(&format!("/v1/documents/{}", hash.to_uppercase())))
        .bearer_auth(&auditor)
        .header("if-none-match", format!("\"{hash}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    let (status, meta) = get(&app, &auditor, &format!("/v1/documents/{hash}/meta")).await;
    assert_eq!(status, 200);
    assert_eq!(meta, first);

    for (content_type, bytes, extension) in [
        ("image/png", png("scan"), "png"),
        ("image/jpeg", jpeg("photo"), "jpg"),
    ] {
        let stored = expect(
            upload(&app, &telecom, content_type, &bytes).await,
            201,
            content_type,
        )
        .await;
        assert_eq!(stored["content_type"], content_type);
        let hash = sha256(&bytes);
        let response = app.get(&agency, &format!("/v1/documents/{hash}")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], content_type);
        let disposition = response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            disposition.ends_with(&format!(".{extension}\"")),
            "{disposition}"
        );
        assert_eq!(response.bytes().await.unwrap(), bytes);
    }

    // Unknown, and not a SHA-256 at all.
    let unknown = sha256(b"never uploaded");
    for path in [
        format!("/v1/documents/{unknown}"),
        format!("/v1/documents/{unknown}/meta"),
        "/v1/documents/not-a-hash".to_string(),
        format!("/v1/documents/{}", &unknown[1..]),
    ] {
        let (status, body) = get(&app, &agency, &path).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("document_not_found")),
            "{path}"
        );
    }

    // Uploads are audited, each with what it did.
    let (_, page) = get(&app, &app.admin_token, "/v1/audit?limit=1000").await;
    let uploads: Vec<&Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "document.upload" && r["target"] == format!("sha256:{hash}"))
        .collect();
    assert_eq!(uploads.len(), 2, "{page}");
    assert_eq!(uploads[0]["outcome"], "ok");
    assert_eq!(
        uploads[0]["detail"],
        format!("stored application/pdf, {} bytes", bytes.len())
    );
    let detail = uploads[1]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("already stored: first uploaded by k_"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_stored_once_and_read_back_on_the_embedded_store() {
    stored_once_and_read_back(Store::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_stored_once_and_read_back_on_redis() {
    stored_once_and_read_back(Store::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_stored_once_and_read_back_on_a_redis_cluster() {
    stored_once_and_read_back(Store::Cluster).await;
}

/// Uploads that are not what they say, too large, or by a role that may not upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_that_are_not_what_they_say_are_refused() {
    let app = spawn_app_with(Store::Embedded, |s| s.documents.max_bytes = 1024).await;
    let agency = app.create_key("agency", None).await;
    // What, its Content-Type, its bytes, the status and code answered.
    type Case = (
        &'static str,
        Option<&'static str>,
        Vec<u8>,
        u16,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "text",
            Some("text/plain"),
            pdf("a"),
            415,
            "unsupported_media_type",
        ),
        ("no type", None, pdf("a"), 415, "unsupported_media_type"),
        (
            "octet stream",
            Some("application/octet-stream"),
            pdf("a"),
            415,
            "unsupported_media_type",
        ),
        (
            "json",
            Some("application/json"),
            b"{}".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "png as pdf",
            Some("application/pdf"),
            png("a"),
            422,
            "document_type_mismatch",
        ),
        (
            "pdf as jpeg",
            Some("image/jpeg"),
            pdf("a"),
            422,
            "document_type_mismatch",
        ),
        (
            "text as png",
            Some("image/png"),
            b"PNG".to_vec(),
            422,
            "document_type_mismatch",
        ),
        (
            "empty",
            Some("application/pdf"),
            Vec::new(),
            422,
            "document_type_mismatch",
        ),
        (
            "over the limit",
            Some("application/pdf"),
            [pdf("big"), vec![b' '; 1024]].concat(),
            413,
            "payload_too_large",
        ),
    ];
    for (what, content_type, bytes, status, code) in cases {
        let mut request = app
            .client
            .post(app.url("/v1/documents"))
            .bearer_auth(&agency)
            .body(bytes);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let body = expect(response, status, what).await;
        assert_eq!(body["error"]["code"], code, "{what}");
        if what == "png as pdf" {
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("%PDF-"), "{message}");
        }
    }
    // Exactly at the limit is taken.
    let mut full = pdf("full");
    full.resize(1024, b' ');
    uploaded(&app, &agency, &full).await;
    // Roles that may not upload; nothing stored by any refusal.
    for role in ["auditor", "access_provider", "dns_provider"] {
        let token = app.create_key(role, None).await;
        let body = expect(
            upload(&app, &token, "application/pdf", &pdf(role)).await,
            403,
            role,
        )
        .await;
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let response = app
        .client
        .post(app.url("/v1/documents"))
        .header("content-type", "application/pdf")
        .body(pdf("anonymous"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    for refused in [pdf("a"), png("a"), pdf("auditor")] {
        let (status, body) = get(
            &app,
            &agency,
            &format!("/v1/documents/{}", sha256(&refused)),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("document_not_found"))
        );
    }
}

/// The flag beside every hash an entry, a lift, a case and a referral show: `false` until the
/// document is uploaded, `true` after; a named hash that was never uploaded is
/// `document_not_uploaded`.
async fn the_flag_shows_what_was_uploaded(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", Some("11")).await;
    let telecom = app.create_key("telecom", None).await;
    let decision = pdf("decision 1");
    let hash = sha256(&decision);

    let entry = list_naming(&app, &agency, "flagged.example.cn", &hash, &[]).await;
    assert_eq!(entry["decision"]["document_sha256"], hash);
    assert_eq!(entry["decision"]["document_uploaded"], false);
    let (_, history) = get(&app, &telecom, "/v1/entries/flagged.example.cn").await;
    assert_eq!(history["current"]["decision"]["document_uploaded"], false);
    for path in [
        format!("/v1/documents/{hash}"),
        format!("/v1/documents/{hash}/meta"),
    ] {
        let (status, body) = get(&app, &telecom, &path).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("document_not_uploaded")),
            "{body}"
        );
    }
    // An entry without a hash shows no flag at all.
    let plain = app.listed(&agency, "plain.example.cn").await;
    assert!(
        plain["decision"].get("document_uploaded").is_none(),
        "{plain}"
    );

    let stored = uploaded(&app, &telecom, &decision).await;
    assert_eq!(
        stored["referenced_by"],
        json!([{"kind": "entry", "id": entry["id"], "domain": "flagged.example.cn", "as": ["decision"]}])
    );
    let (_, history) = get(&app, &telecom, "/v1/entries/flagged.example.cn").await;
    assert_eq!(history["current"]["decision"]["document_uploaded"], true);
    let (_, page) = get(&app, &telecom, "/v1/entries?status=active").await;
    let listed = page["entries"].as_array().unwrap();
    let flagged = listed.iter().find(|e| e["id"] == entry["id"]).unwrap();
    assert_eq!(flagged["decision"]["document_uploaded"], true);

    // A lift under a document that comes later.
    let letter = pdf("lifting document");
    let letter_hash = sha256(&letter);
    let body = json!({"reason": "complied", "document": {
        "number": "京市监撤〔2024〕7号", "authority": "北京市市场监督管理局", "date": "2024-06-01",
        "document_sha256": letter_hash}});
    let lifted = expect(
        app.post(&agency, "/v1/entries/flagged.example.cn/lift", &body)
            .await,
        200,
        "lifting",
    )
    .await;
    assert_eq!(lifted["lift"]["document"]["document_uploaded"], false);
    assert_eq!(lifted["decision"]["document_uploaded"], true);
    let stored = uploaded(&app, &agency, &letter).await;
    assert_eq!(stored["referenced_by"][0]["as"], json!(["lift.document"]));
    let (_, history) = get(&app, &telecom, "/v1/entries/flagged.example.cn").await;
    assert_eq!(
        history["history"][0]["lift"]["document"]["document_uploaded"],
        true
    );

    // A case: its evidence, suspension letter and penalty decision.
    let evidence = png("evidence");
    let suspension = pdf("suspension letter");
    let penalty = pdf("penalty decision");
    let case = expect(
        app.post(
            &agency,
            "/v1/cases",
            &json!({
                "domain": "case.example.cn", "recorded": false, "access_province": "11",
                "category": "counterfeit_goods", "summary": "sells counterfeit goods",
                "evidence": [sha256(&evidence)],
            }),
        )
        .await,
        201,
        "opening a case",
    )
    .await;
    let id = case["id"].as_str().unwrap().to_string();
    assert_eq!(
        case["timeline"][0]["documents"][0]["document_uploaded"],
        false
    );
    let letter = |number: &str, bytes: &[u8]| {
        json!({"number": number, "authority": "北京市市场监督管理局", "date": "2024-05-01",
               "document_sha256": sha256(bytes)})
    };
    let body = json!({"letter": letter("京市监函〔2024〕5号", &suspension), "ground": "property"});
    let case = expect(
        app.post(
            &agency,
            &format!("/v1/cases/{id}/suspension-request"),
            &body,
        )
        .await,
        200,
        "requesting a suspension",
    )
    .await;
    assert_eq!(case["suspension"]["letter"]["document_uploaded"], false);
    let body = json!({
        "decision": letter("京市监处罚〔2024〕9号", &penalty),
        "recommendation": {"number": "京市监建〔2024〕9号", "authority": "北京市市场监督管理局", "date": "2024-05-02"},
    });
    let case = expect(
        app.post(&agency, &format!("/v1/cases/{id}/decision"), &body)
            .await,
        200,
        "submitting the decision",
    )
    .await;
    assert_eq!(case["closure"]["decision"]["document_uploaded"], false);
    assert!(
        case["closure"]["recommendation"]
            .get("document_uploaded")
            .is_none()
    );
    expect(
        upload(&app, &agency, "image/png", &evidence).await,
        201,
        "evidence",
    )
    .await;
    let stored = uploaded(&app, &agency, &penalty).await;
    assert_eq!(
        stored["referenced_by"],
        json!([{"kind": "case", "id": id, "domain": "case.example.cn", "as": ["penalty_decision"]}])
    );
    let (_, case) = get(&app, &telecom, &format!("/v1/cases/{id}")).await;
    assert_eq!(
        case["timeline"][0]["documents"][0]["document_uploaded"],
        true
    );
    assert_eq!(case["suspension"]["letter"]["document_uploaded"], false);
    assert_eq!(case["closure"]["decision"]["document_uploaded"], true);
    let steps = case["timeline"].as_array().unwrap();
    let submitted = steps
        .iter()
        .find(|s| s["action"] == "decision_submitted")
        .unwrap();
    assert_eq!(submitted["documents"][0]["document_uploaded"], true);
    assert!(submitted["documents"][1].get("document_uploaded").is_none());
    let (status, body) = get(
        &app,
        &telecom,
        &format!("/v1/documents/{}", sha256(&suspension)),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("document_not_uploaded"))
    );

    // A referral's documents.
    let extract = pdf("recordal extract");
    let referral = expect(
        app.post(
            &app.create_key("telecom", Some("11")).await,
            "/v1/referrals",
            &json!({"to": "amr:11", "subject": "forged identity", "summary": "the operator does not exist",
                    "documents": [{"kind": "recordal_extract", "sha256": sha256(&extract)}]}),
        )
        .await,
        201,
        "referring",
    )
    .await;
    assert_eq!(referral["documents"][0]["document_uploaded"], false);
    let stored = uploaded(&app, &agency, &extract).await;
    assert_eq!(stored["referenced_by"][0]["kind"], "referral");
    assert_eq!(
        stored["referenced_by"][0]["as"],
        json!(["recordal_extract"])
    );
    assert!(stored["referenced_by"][0].get("domain").is_none());
    let (_, read) = get(
        &app,
        &agency,
        &format!("/v1/referrals/{}", referral["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(read["documents"][0]["document_uploaded"], true);
    assert_eq!(
        read["timeline"][0]["documents"][0]["document_uploaded"],
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flag_shows_what_was_uploaded_on_the_embedded_store() {
    the_flag_shows_what_was_uploaded(Store::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flag_shows_what_was_uploaded_on_redis() {
    the_flag_shows_what_was_uploaded(Store::Redis).await;
}

/// A provider's key reads a document only once a notice to its provider names an entry that
/// names it; anything else is `403`, whether the document exists or not.
async fn providers_read_the_documents_of_their_notices(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    let told = app
        .create_provider(&json!({"name": "told", "kind": "access"}))
        .await;
    let other = app
        .create_provider(&json!({"name": "other", "kind": "dns", "nameservers": ["ns.other.cn"]}))
        .await;
    let told_key = app.provider_key(&told).await;
    let other_key = app.provider_key(&other).await;
    let decision = pdf("decision for providers");
    let hash = sha256(&decision);
    uploaded(&app, &agency, &decision).await;
    let unrelated = pdf("unrelated");
    uploaded(&app, &agency, &unrelated).await;

    // Before any notice: refused to both, as is a document no one uploaded.
    for token in [&told_key, &other_key] {
        for path in [
            format!("/v1/documents/{hash}"),
            format!("/v1/documents/{hash}/meta"),
            format!("/v1/documents/{}", sha256(b"nothing")),
        ] {
            let (status, body) = get(&app, token, &path).await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (403, Some("forbidden")),
                "{path}"
            );
        }
    }
    let entry = list_naming(&app, &agency, "notified.example.cn", &hash, &[&told]).await;
    assert_eq!(entry["notices"][0]["provider_id"], told["id"]);
    // Another entry naming it, of which the provider was not told, stays out of its view.
    list_naming(&app, &agency, "untold.example.cn", &hash, &[]).await;

    let response = app.get(&told_key, &format!("/v1/documents/{hash}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), decision);
    let (status, meta) = get(&app, &told_key, &format!("/v1/documents/{hash}/meta")).await;
    assert_eq!(status, 200);
    assert_eq!(
        meta["referenced_by"],
        json!([{"kind": "entry", "id": entry["id"], "domain": "notified.example.cn", "as": ["decision"]}])
    );
    let (_, full) = get(&app, &agency, &format!("/v1/documents/{hash}/meta")).await;
    assert_eq!(full["referenced_by"].as_array().unwrap().len(), 2);
    for path in [
        format!("/v1/documents/{hash}"),
        format!("/v1/documents/{}", sha256(&unrelated)),
    ] {
        let (status, body) = get(&app, &other_key, &path).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{path}"
        );
    }
    let (status, _) = get(
        &app,
        &told_key,
        &format!("/v1/documents/{}", sha256(&unrelated)),
    )
    .await;
    assert_eq!(status, 403);
    // Told about an entry whose document is still on paper.
    let later = pdf("not yet uploaded");
    list_naming(&app, &agency, "paper.example.cn", &sha256(&later), &[&told]).await;
    let (status, body) = get(
        &app,
        &told_key,
        &format!("/v1/documents/{}", sha256(&later)),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("document_not_uploaded"))
    );
    // The provider's own view of the entry carries the flags too.
    let (_, history) = get(&app, &told_key, "/v1/entries/notified.example.cn").await;
    assert_eq!(history["current"]["decision"]["document_uploaded"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_read_the_documents_of_their_notices_on_the_embedded_store() {
    providers_read_the_documents_of_their_notices(Store::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_read_the_documents_of_their_notices_on_redis() {
    providers_read_the_documents_of_their_notices(Store::Redis).await;
}

/// A store written before the document index existed: its records name hashes the index does
/// not hold. The index is built once from the records, and a second run has nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_older_than_the_document_index_are_indexed_once() {
    let redis = RedisServer::start();
    let app = spawn_app_on_redis(|s| s.store.redis_url = redis.url()).await;
    let store = &app.registry.store;
    eventually(DEADLINE, "the start's indexing pass done", || async {
        store.document_refs_complete().await.unwrap()
    })
    .await;
    let agency = app.create_key("agency", None).await;
    let hash = sha256(&pdf("older"));
    list_naming(&app, &agency, "older.example.cn", &hash, &[]).await;
    let path = format!("/v1/documents/{hash}/meta");
    let code = |body: Value| {
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (status, body) = get(&app, &agency, &path).await;
    assert_eq!((status, code(body)), (404, "document_not_uploaded".into()));

    // Drop the index and its mark, as a store of an older version has neither.
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg("{siteban}:documents:refs")
        .arg("{siteban}:documents:refs:complete")
        .query_async(&mut conn)
        .await
        .unwrap();
    let (status, body) = get(&app, &agency, &path).await;
    assert_eq!((status, code(body)), (404, "document_not_found".into()));

    assert_eq!(app.registry.index_named_documents().await.unwrap(), 1);
    let (status, body) = get(&app, &agency, &path).await;
    assert_eq!((status, code(body)), (404, "document_not_uploaded".into()));
    assert!(store.document_refs_complete().await.unwrap());
    assert_eq!(app.registry.index_named_documents().await.unwrap(), 0);
}
