//! Malformed requests, table-driven: each gets its 4xx status and stable code, and the store is
//! unchanged afterwards.

use serde_json::{Value, json};
use siteban::domain::today_in_china;

use crate::helpers::{Store, entry_body, lift_body, spawn_app};

enum Auth {
    None,
    Unknown,
    Role(&'static str),
}

enum Body {
    Empty,
    Raw(Vec<u8>),
    Json(Value),
    /// A body of the given content type.
    Typed(&'static str, Vec<u8>),
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    auth: Auth,
    body: Body,
    status: u16,
    code: &'static str,
}

fn with(field: &str, value: Value) -> Body {
    let mut body = entry_body("ok.example.cn");
    body[field] = value;
    Body::Json(body)
}

fn with_decision(field: &str, value: Value) -> Body {
    let mut body = entry_body("ok.example.cn");
    body["decision"][field] = value;
    Body::Json(body)
}

fn cases() -> Vec<Case> {
    use Auth::*;
    let post = |name, path: &str, auth, body, status, code| Case {
        name,
        method: "POST",
        path: path.to_string(),
        auth,
        body,
        status,
        code,
    };
    let get = |name, path: &str, status, code| Case {
        name,
        method: "GET",
        path: path.to_string(),
        auth: Role("agency"),
        body: Body::Empty,
        status,
        code,
    };
    let tomorrow = (today_in_china() + time::Duration::days(1)).to_string();
    let mut cases = vec![
        post(
            "no token",
            "/v1/entries",
            None,
            Body::Json(entry_body("ok.example.cn")),
            401,
            "unauthenticated",
        ),
        post(
            "unknown token",
            "/v1/entries",
            Unknown,
            Body::Json(entry_body("ok.example.cn")),
            401,
            "unauthenticated",
        ),
        post(
            "provider may not list",
            "/v1/entries",
            Role("access_provider"),
            Body::Json(entry_body("ok.example.cn")),
            403,
            "forbidden",
        ),
        post(
            "admin may not list",
            "/v1/entries",
            Role("admin"),
            Body::Json(entry_body("ok.example.cn")),
            403,
            "forbidden",
        ),
        post(
            "auditor may not list",
            "/v1/entries",
            Role("auditor"),
            Body::Json(entry_body("ok.example.cn")),
            403,
            "forbidden",
        ),
        post(
            "role before shape",
            "/v1/entries",
            Role("dns_provider"),
            Body::Raw(b"{not json".to_vec()),
            403,
            "forbidden",
        ),
        post(
            "truncated JSON",
            "/v1/entries",
            Role("agency"),
            Body::Raw(b"{\"domain\": ".to_vec()),
            400,
            "invalid_json",
        ),
        post(
            "empty body",
            "/v1/entries",
            Role("agency"),
            Body::Empty,
            400,
            "invalid_json",
        ),
        post(
            "array body",
            "/v1/entries",
            Role("agency"),
            Body::Json(json!([1, 2])),
            400,
            "invalid_json",
        ),
        post(
            "domain of wrong type",
            "/v1/entries",
            Role("agency"),
            with("domain", json!(5)),
            400,
            "invalid_json",
        ),
        post(
            "decision of wrong type",
            "/v1/entries",
            Role("agency"),
            with("decision", json!("yes")),
            400,
            "invalid_json",
        ),
        post(
            "oversize body",
            "/v1/entries",
            Role("agency"),
            Body::Raw(vec![b' '; 5 * 1024 * 1024]),
            413,
            "payload_too_large",
        ),
        post(
            "no domain",
            "/v1/entries",
            Role("agency"),
            with("domain", Value::Null),
            422,
            "invalid_domain",
        ),
        post(
            "domain checked before category",
            "/v1/entries",
            Role("agency"),
            Body::Json(json!({"domain": "a..b", "category": "nope"})),
            422,
            "invalid_domain",
        ),
        post(
            "unknown scope",
            "/v1/entries",
            Role("agency"),
            with("scope", json!("wide")),
            422,
            "invalid_scope",
        ),
        post(
            "no category",
            "/v1/entries",
            Role("agency"),
            with("category", Value::Null),
            422,
            "invalid_category",
        ),
        post(
            "unknown category",
            "/v1/entries",
            Role("agency"),
            with("category", json!("piracy")),
            422,
            "invalid_category",
        ),
        post(
            "no decision",
            "/v1/entries",
            Role("agency"),
            with("decision", Value::Null),
            422,
            "decision_required",
        ),
        post(
            "empty decision number",
            "/v1/entries",
            Role("agency"),
            with_decision("number", json!("  ")),
            422,
            "invalid_decision",
        ),
        post(
            "no authority",
            "/v1/entries",
            Role("agency"),
            with_decision("authority", Value::Null),
            422,
            "invalid_decision",
        ),
        post(
            "malformed date",
            "/v1/entries",
            Role("agency"),
            with_decision("date", json!("2024-5-1")),
            422,
            "invalid_decision",
        ),
        post(
            "impossible date",
            "/v1/entries",
            Role("agency"),
            with_decision("date", json!("2024-02-30")),
            422,
            "invalid_decision",
        ),
        post(
            "future date",
            "/v1/entries",
            Role("agency"),
            with_decision("date", json!(tomorrow)),
            422,
            "invalid_decision",
        ),
        post(
            "malformed hash",
            "/v1/entries",
            Role("agency"),
            with_decision("document_sha256", json!("abc")),
            422,
            "invalid_decision",
        ),
        post(
            "lift without document",
            "/v1/entries/x.example.cn/lift",
            Role("agency"),
            Body::Json(json!({"reason": "r"})),
            422,
            "document_required",
        ),
        post(
            "lift with future document",
            "/v1/entries/x.example.cn/lift",
            Role("telecom"),
            Body::Json(json!({"document": {"number": "n", "authority": "a", "date": tomorrow}})),
            422,
            "invalid_document",
        ),
        post(
            "lift of an invalid name",
            "/v1/entries/a_b.example.cn/lift",
            Role("agency"),
            Body::Json(lift_body()),
            422,
            "invalid_domain",
        ),
        post(
            "lift of nothing listed",
            "/v1/entries/x.example.cn/lift",
            Role("agency"),
            Body::Json(lift_body()),
            404,
            "not_listed",
        ),
        post(
            "batch of wrong type",
            "/v1/check",
            Role("agency"),
            Body::Json(json!({"domains": "a.example.cn"})),
            400,
            "invalid_json",
        ),
        post(
            "batch of numbers",
            "/v1/check",
            Role("agency"),
            Body::Json(json!({"domains": [1, 2]})),
            400,
            "invalid_json",
        ),
        post(
            "key with unknown role",
            "/v1/keys",
            Role("admin"),
            Body::Json(json!({"name": "x", "role": "root"})),
            422,
            "invalid_role",
        ),
        post(
            "key with unknown province",
            "/v1/keys",
            Role("admin"),
            Body::Json(json!({"name": "x", "role": "agency", "province": "99"})),
            422,
            "invalid_province",
        ),
        post(
            "key outside the domestic system",
            "/v1/keys",
            Role("admin"),
            Body::Json(json!({"name": "x", "role": "agency", "province": "71"})),
            422,
            "invalid_province",
        ),
        post(
            "key without name",
            "/v1/keys",
            Role("admin"),
            Body::Json(json!({"role": "agency"})),
            422,
            "invalid_name",
        ),
        post(
            "key by a non-admin",
            "/v1/keys",
            Role("telecom"),
            Body::Json(json!({"name": "x", "role": "admin"})),
            403,
            "forbidden",
        ),
        get(
            "check without a name",
            "/v1/check",
            400,
            "invalid_parameter",
        ),
        get(
            "check of a URL",
            "/v1/check?domain=http%3A%2F%2Fa.example.cn%2F",
            422,
            "invalid_domain",
        ),
        get(
            "feed after not a number",
            "/v1/feed?after=x",
            400,
            "invalid_parameter",
        ),
        get(
            "feed after negative",
            "/v1/feed?after=-1",
            400,
            "invalid_parameter",
        ),
        get(
            "feed limit zero",
            "/v1/feed?limit=0",
            400,
            "invalid_parameter",
        ),
        get(
            "feed limit too large",
            "/v1/feed?limit=10001",
            400,
            "invalid_parameter",
        ),
        get(
            "feed wait too long",
            "/v1/feed?wait=31",
            400,
            "invalid_parameter",
        ),
        get(
            "entries of unknown status",
            "/v1/entries?status=gone",
            400,
            "invalid_parameter",
        ),
        get(
            "entries limit not a number",
            "/v1/entries?limit=ten",
            400,
            "invalid_parameter",
        ),
        get(
            "entries cursor not ours",
            "/v1/entries?cursor=zzz",
            400,
            "invalid_parameter",
        ),
        get(
            "history of an invalid name",
            "/v1/entries/-bad.example.cn",
            422,
            "invalid_domain",
        ),
        get("unknown path", "/v1/nothing", 404, "not_found"),
    ];
    cases.extend(notice_cases());
    cases.extend(record_cases());
    let invalid_domains = [
        "",
        ".",
        "a..example.cn",
        &format!("{}.example.cn", "a".repeat(64)),
        &format!("{}.cn", ["a".repeat(63).as_str(); 4].join(".")),
        "exa_mple.cn",
        "-a.example.cn",
        "a-.example.cn",
        "1.2.3.4",
        "[::1]",
        "::1",
        "http://a.example.cn",
        "a.example.cn/path",
        "a.example.cn:8080",
        "a example.cn",
        "a.example.cn..",
        "a\u{0}.example.cn",
    ];
    for domain in invalid_domains {
        cases.push(post(
            "invalid domain",
            "/v1/entries",
            Role("agency"),
            with("domain", json!(domain)),
            422,
            "invalid_domain",
        ));
    }
    for suffix in ["com", "com.cn", "github.io", "COM.CN.", "中国"] {
        cases.push(post(
            "public suffix",
            "/v1/entries",
            Role("telecom"),
            with("domain", json!(suffix)),
            422,
            "public_suffix",
        ));
    }
    cases
}

fn provider_with(field: &str, value: Value) -> Body {
    let mut body =
        json!({"name": "Example Hosting", "kind": "access", "ranges": ["203.0.113.0/24"]});
    body[field] = value;
    Body::Json(body)
}

/// Providers, keys bound to them, locating and notices.
fn notice_cases() -> Vec<Case> {
    use Auth::*;
    let case = |name, method, path: &str, auth, body, status, code| Case {
        name,
        method,
        path: path.to_string(),
        auth,
        body,
        status,
        code,
    };
    let mut listing = entry_body("ok.example.cn");
    listing["providers"] = json!(["p_nope"]);
    let mut listing_bad_type = entry_body("ok.example.cn");
    listing_bad_type["providers"] = json!("p_nope");
    vec![
        case(
            "provider by a non-admin",
            "POST",
            "/v1/providers",
            Role("agency"),
            provider_with("name", json!("x")),
            403,
            "forbidden",
        ),
        case(
            "provider without name",
            "POST",
            "/v1/providers",
            Role("admin"),
            provider_with("name", Value::Null),
            422,
            "invalid_name",
        ),
        case(
            "provider of unknown kind",
            "POST",
            "/v1/providers",
            Role("admin"),
            provider_with("kind", json!("cdn")),
            422,
            "invalid_kind",
        ),
        case(
            "provider with unknown province",
            "POST",
            "/v1/providers",
            Role("admin"),
            provider_with("province", json!("99")),
            422,
            "invalid_province",
        ),
        case(
            "range with host bits",
            "POST",
            "/v1/providers",
            Role("admin"),
            provider_with("ranges", json!(["10.1.2.3/8"])),
            422,
            "invalid_range",
        ),
        case(
            "range that is a name",
            "POST",
            "/v1/providers",
            Role("admin"),
            provider_with("ranges", json!(["example.cn/24"])),
            422,
            "invalid_range",
        ),
        case(
            "ranges of wrong type",
            "POST",
            "/v1/providers",
            Role("admin"),
            provider_with("ranges", json!("10.0.0.0/8")),
            400,
            "invalid_json",
        ),
        case(
            "ranges for a DNS provider",
            "POST",
            "/v1/providers",
            Role("admin"),
            Body::Json(json!({"name": "d", "kind": "dns", "ranges": ["10.0.0.0/8"]})),
            422,
            "invalid_range",
        ),
        case(
            "malformed name-server suffix",
            "POST",
            "/v1/providers",
            Role("admin"),
            Body::Json(json!({"name": "d", "kind": "dns", "nameservers": ["a..b"]})),
            422,
            "invalid_nameserver",
        ),
        case(
            "name servers for an access provider",
            "POST",
            "/v1/providers",
            Role("admin"),
            provider_with("nameservers", json!(["dnsco.cn"])),
            422,
            "invalid_nameserver",
        ),
        case(
            "webhook that is not http",
            "POST",
            "/v1/providers",
            Role("admin"),
            provider_with("webhook_url", json!("ftp://hooks.example.cn/")),
            422,
            "invalid_webhook_url",
        ),
        case(
            "webhook with credentials",
            "POST",
            "/v1/providers",
            Role("admin"),
            provider_with("webhook_url", json!("https://u:p@hooks.example.cn/")),
            422,
            "invalid_webhook_url",
        ),
        case(
            "webhook that is not a URL",
            "POST",
            "/v1/providers",
            Role("admin"),
            provider_with("webhook_url", json!("hooks")),
            422,
            "invalid_webhook_url",
        ),
        case(
            "unknown provider",
            "GET",
            "/v1/providers/p_nope",
            Role("admin"),
            Body::Empty,
            404,
            "not_found",
        ),
        case(
            "listing naming an unknown provider",
            "POST",
            "/v1/entries",
            Role("agency"),
            Body::Json(listing),
            422,
            "unknown_provider",
        ),
        case(
            "listing providers of wrong type",
            "POST",
            "/v1/entries",
            Role("agency"),
            Body::Json(listing_bad_type),
            400,
            "invalid_json",
        ),
        case(
            "provider key without provider",
            "POST",
            "/v1/keys",
            Role("admin"),
            Body::Json(json!({"name": "x", "role": "dns_provider"})),
            422,
            "provider_required",
        ),
        case(
            "provider key of an unknown provider",
            "POST",
            "/v1/keys",
            Role("admin"),
            Body::Json(json!({"name": "x", "role": "dns_provider", "provider_id": "p_nope"})),
            422,
            "unknown_provider",
        ),
        case(
            "locate without a name",
            "GET",
            "/v1/locate",
            Role("agency"),
            Body::Empty,
            400,
            "invalid_parameter",
        ),
        case(
            "locate of a URL",
            "GET",
            "/v1/locate?domain=http%3A%2F%2Fa.example.cn%2F",
            Role("telecom"),
            Body::Empty,
            422,
            "invalid_domain",
        ),
        case(
            "notices of unknown status",
            "GET",
            "/v1/notices?status=gone",
            Role("access_provider"),
            Body::Empty,
            400,
            "invalid_parameter",
        ),
        case(
            "notices limit zero",
            "GET",
            "/v1/notices?limit=0",
            Role("dns_provider"),
            Body::Empty,
            400,
            "invalid_parameter",
        ),
        case(
            "notices cursor not ours",
            "GET",
            "/v1/notices?cursor=zzz",
            Role("access_provider"),
            Body::Empty,
            400,
            "invalid_parameter",
        ),
        case(
            "notices of another provider",
            "GET",
            "/v1/notices?provider=p_other",
            Role("access_provider"),
            Body::Empty,
            400,
            "invalid_parameter",
        ),
        case(
            "regulator notices without provider",
            "GET",
            "/v1/notices",
            Role("agency"),
            Body::Empty,
            400,
            "invalid_parameter",
        ),
        case(
            "ack of a malformed id",
            "POST",
            "/v1/notices/not-an-id/ack",
            Role("access_provider"),
            Body::Empty,
            404,
            "not_found",
        ),
        case(
            "ack of an unknown notice",
            "POST",
            "/v1/notices/0190b5c4-0000-7000-8000-000000000000/ack",
            Role("dns_provider"),
            Body::Empty,
            404,
            "not_found",
        ),
        case(
            "ack with malformed JSON",
            "POST",
            "/v1/notices/0190b5c4-0000-7000-8000-000000000000/ack",
            Role("access_provider"),
            Body::Raw(b"{\"note\": ".to_vec()),
            400,
            "invalid_json",
        ),
        case(
            "ack by a regulator",
            "POST",
            "/v1/notices/0190b5c4-0000-7000-8000-000000000000/ack",
            Role("agency"),
            Body::Empty,
            403,
            "forbidden",
        ),
        case(
            "compliance for a provider",
            "GET",
            "/v1/compliance",
            Role("dns_provider"),
            Body::Empty,
            403,
            "forbidden",
        ),
    ]
}

/// Shared records: identifiers, fields, queries and imports.
fn record_cases() -> Vec<Case> {
    use Auth::*;
    let case = |name, method, path: &str, auth, body, status, code| Case {
        name,
        method,
        path: path.to_string(),
        auth,
        body,
        status,
        code,
    };
    let registration = json!({"name": "北京某某科技有限公司", "status": "active"});
    let recordal = json!({
        "sponsor_name": "北京某某科技有限公司",
        "sponsor_code": "91110108551385082Q",
        "domains": ["shop.example.cn"],
        "access_provider": "Example Hosting",
        "access_province": "11"
    });
    let with = |base: &Value, field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        Body::Json(body)
    };
    let icp_path = "/v1/recordals/%E4%BA%ACICP%E5%A4%8713025326%E5%8F%B7-2";
    let ndjson = |text: &str| Body::Typed("application/x-ndjson", text.as_bytes().to_vec());
    vec![
        case(
            "registration with a malformed code",
            "PUT",
            "/v1/registrations/9111010855138508IQ",
            Role("agency"),
            Body::Json(registration.clone()),
            422,
            "invalid_uscc",
        ),
        case(
            "registration with a short code",
            "PUT",
            "/v1/registrations/911101",
            Role("agency"),
            Body::Json(registration.clone()),
            422,
            "invalid_uscc",
        ),
        case(
            "registration with malformed JSON",
            "PUT",
            "/v1/registrations/91110108551385082Q",
            Role("agency"),
            Body::Raw(b"{\"name\": ".to_vec()),
            400,
            "invalid_json",
        ),
        case(
            "registration with a number for a name",
            "PUT",
            "/v1/registrations/91110108551385082Q",
            Role("agency"),
            with(&registration, "name", json!(5)),
            400,
            "invalid_json",
        ),
        case(
            "registration with an unknown field",
            "PUT",
            "/v1/registrations/91110108551385082Q",
            Role("agency"),
            with(&registration, "colour", json!("red")),
            400,
            "invalid_json",
        ),
        case(
            "registration without a name",
            "PUT",
            "/v1/registrations/91110108551385082Q",
            Role("agency"),
            with(&registration, "name", json!(" ")),
            422,
            "invalid_record",
        ),
        case(
            "registration with an unknown status",
            "PUT",
            "/v1/registrations/91110108551385082Q",
            Role("agency"),
            with(&registration, "status", json!("sleeping")),
            422,
            "invalid_record",
        ),
        case(
            "registration with a foreign province",
            "PUT",
            "/v1/registrations/91110108551385082Q",
            Role("agency"),
            with(&registration, "registered_province", json!("81")),
            422,
            "invalid_province",
        ),
        case(
            "registration whose body names another code",
            "PUT",
            "/v1/registrations/91110108551385082Q",
            Role("agency"),
            with(&registration, "uscc", json!("91110000600037341L")),
            422,
            "invalid_record",
        ),
        case(
            "registration by telecom",
            "PUT",
            "/v1/registrations/91110108551385082Q",
            Role("telecom"),
            Body::Json(registration.clone()),
            403,
            "forbidden",
        ),
        case(
            "registration read with a bad code",
            "GET",
            "/v1/registrations/nope",
            Role("telecom"),
            Body::Empty,
            422,
            "invalid_uscc",
        ),
        case(
            "registration never made",
            "GET",
            "/v1/registrations/91110108551385082Q",
            Role("telecom"),
            Body::Empty,
            404,
            "not_found",
        ),
        case(
            "recordal with a malformed number",
            "PUT",
            "/v1/recordals/ICP13025326",
            Role("telecom"),
            Body::Json(recordal.clone()),
            422,
            "invalid_icp_number",
        ),
        case(
            "recordal with a licence for a number",
            "PUT",
            "/v1/recordals/%E4%BA%ACB2-20170489",
            Role("telecom"),
            Body::Json(recordal.clone()),
            422,
            "invalid_icp_number",
        ),
        case(
            "recordal with a malformed sponsor code",
            "PUT",
            icp_path,
            Role("telecom"),
            with(&recordal, "sponsor_code", json!("9111")),
            422,
            "invalid_uscc",
        ),
        case(
            "recordal without domains",
            "PUT",
            icp_path,
            Role("telecom"),
            with(&recordal, "domains", json!([])),
            422,
            "invalid_record",
        ),
        case(
            "recordal with a URL for a domain",
            "PUT",
            icp_path,
            Role("telecom"),
            with(&recordal, "domains", json!(["http://shop.example.cn/"])),
            422,
            "invalid_domain",
        ),
        case(
            "recordal of a public suffix",
            "PUT",
            icp_path,
            Role("telecom"),
            with(&recordal, "domains", json!(["com.cn"])),
            422,
            "public_suffix",
        ),
        case(
            "recordal without an access province",
            "PUT",
            icp_path,
            Role("telecom"),
            with(&recordal, "access_province", Value::Null),
            422,
            "invalid_province",
        ),
        case(
            "recordal with a number for domains",
            "PUT",
            icp_path,
            Role("telecom"),
            with(&recordal, "domains", json!(5)),
            400,
            "invalid_json",
        ),
        case(
            "recordal by an agency",
            "PUT",
            icp_path,
            Role("agency"),
            Body::Json(recordal.clone()),
            403,
            "forbidden",
        ),
        case(
            "recordal never made",
            "GET",
            icp_path,
            Role("agency"),
            Body::Empty,
            404,
            "not_found",
        ),
        case(
            "recordals without a domain",
            "GET",
            "/v1/recordals",
            Role("agency"),
            Body::Empty,
            400,
            "invalid_parameter",
        ),
        case(
            "recordals of a malformed domain",
            "GET",
            "/v1/recordals?domain=a..b",
            Role("agency"),
            Body::Empty,
            422,
            "invalid_domain",
        ),
        case(
            "verify without a domain",
            "GET",
            "/v1/verify",
            Role("auditor"),
            Body::Empty,
            400,
            "invalid_parameter",
        ),
        case(
            "verify of a URL",
            "GET",
            "/v1/verify?domain=http%3A%2F%2Fx.cn%2F",
            Role("auditor"),
            Body::Empty,
            422,
            "invalid_domain",
        ),
        case(
            "verify by a provider",
            "GET",
            "/v1/verify?domain=x.example.cn",
            Role("access_provider"),
            Body::Empty,
            403,
            "forbidden",
        ),
        case(
            "import of JSON",
            "POST",
            "/v1/recordals/import",
            Role("telecom"),
            Body::Json(json!([recordal.clone()])),
            415,
            "unsupported_media_type",
        ),
        case(
            "import without a content type",
            "POST",
            "/v1/registrations/import",
            Role("agency"),
            Body::Empty,
            415,
            "unsupported_media_type",
        ),
        case(
            "import with a bad line",
            "POST",
            "/v1/recordals/import",
            Role("telecom"),
            ndjson("{\"icp_number\": \"京ICP备1号\"}\n"),
            422,
            "import_rejected",
        ),
        case(
            "import of CSV with an unknown column",
            "POST",
            "/v1/registrations/import",
            Role("agency"),
            Body::Typed(
                "text/csv",
                b"uscc,colour\n91110108551385082Q,red\n".to_vec(),
            ),
            422,
            "import_rejected",
        ),
        case(
            "import by the other side",
            "POST",
            "/v1/registrations/import",
            Role("telecom"),
            ndjson(""),
            403,
            "forbidden",
        ),
        case(
            "method not allowed on records",
            "DELETE",
            "/v1/registrations/91110108551385082Q",
            Role("agency"),
            Body::Empty,
            405,
            "method_not_allowed",
        ),
    ]
}

pub async fn bad_input_is_refused_and_changes_nothing(store: Store) {
    let app = spawn_app(store).await;
    let mut tokens = std::collections::HashMap::new();
    tokens.insert("admin", app.admin_token.clone());
    for role in [
        "agency",
        "telecom",
        "access_provider",
        "dns_provider",
        "auditor",
    ] {
        tokens.insert(role, app.create_key(role, None).await);
    }
    let (_, keys_before) = app.registry.store.keys().await.unwrap();
    let providers_before = app.registry.store.providers().await.unwrap().len();
    for case in cases() {
        let mut request = match case.method {
            "POST" => app.client.post(app.url(&case.path)),
            "PUT" => app.client.put(app.url(&case.path)),
            "DELETE" => app.client.delete(app.url(&case.path)),
            _ => app.client.get(app.url(&case.path)),
        };
        request = match case.auth {
            Auth::None => request,
            Auth::Unknown => request
                .bearer_auth("sb_0000000000000000000000000000000000000000000000000000000000000000"),
            Auth::Role(role) => request.bearer_auth(&tokens[role]),
        };
        request = match case.body {
            Body::Empty => request,
            Body::Raw(bytes) => request
                .header("content-type", "application/json")
                .body(bytes),
            Body::Json(value) => request.json(&value),
            Body::Typed(content_type, bytes) => {
                request.header("content-type", content_type).body(bytes)
            }
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{}: body is not JSON: {e}", case.name));
        assert_eq!(status, case.status, "{}: {body}", case.name);
        assert_eq!(body["error"]["code"], case.code, "{}: {body}", case.name);
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty() && !message.ends_with('.'),
            "{}: message {message:?}",
            case.name
        );
    }
    // Nothing was written: no feed event, no entry, no new key.
    assert_eq!(app.registry.store.head().await.unwrap(), 0);
    let (entries, _) = app
        .registry
        .store
        .entries(siteban::store::StatusFilter::All, 0, 100)
        .await
        .unwrap();
    assert!(entries.is_empty());
    let (_, keys_after) = app.registry.store.keys().await.unwrap();
    assert_eq!(keys_after.len(), keys_before.len());
    assert_eq!(
        app.registry.store.providers().await.unwrap().len(),
        providers_before
    );
    // No record was written either.
    let code = siteban::domain::Uscc::parse("91110108551385082Q").unwrap();
    assert_eq!(
        app.registry.store.registrations(&[code]).await.unwrap(),
        [None]
    );
    let number = siteban::domain::IcpNumber::parse("京ICP备13025326号-2").unwrap();
    assert_eq!(
        app.registry.store.recordals(&[number]).await.unwrap(),
        [None]
    );
    // And the same requests, made right, work.
    app.listed(&tokens["agency"], "ok.example.cn").await;
}
