//! Malformed requests, table-driven: each gets its 4xx status and stable code, and the store is
//! unchanged afterwards.

use serde_json::{Value, json};
use siteban::domain::today_in_china;

use crate::helpers::{Store, entry_body, expect, lift_body, spawn_app, spawn_app_with};

enum Auth {
    None,
    Unknown,
    /// A national key of the role, or with `:province` a provincial one.
    Role(&'static str),
}

enum Body {
    Empty,
    Raw(Vec<u8>),
    Json(Value),
    /// A body of the given content type.
    Typed(&'static str, Vec<u8>),
    /// A body sent without a content type.
    Untyped(Vec<u8>),
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    auth: Auth,
    body: Body,
    status: u16,
    code: &'static str,
    /// What the message must name, where the row is about one field.
    names: Option<&'static str>,
}

/// One row of a table: the columns in the order of [`Case`].
fn case(
    name: &'static str,
    method: &'static str,
    path: &str,
    auth: Auth,
    body: Body,
    status: u16,
    code: &'static str,
) -> Case {
    let path = path.to_string();
    Case {
        name,
        method,
        path,
        auth,
        body,
        status,
        code,
        names: None,
    }
}

/// A row whose body carries a field no request of this path has: `422 unknown_field`, with
/// the field named in the message.
fn unknown(
    name: &'static str,
    method: &'static str,
    path: &str,
    auth: Auth,
    body: Body,
    field: &'static str,
) -> Case {
    Case {
        names: Some(field),
        ..case(name, method, path, auth, body, 422, "unknown_field")
    }
}

/// A valid listing body, for the cases about who may send it.
fn entry() -> Body {
    Body::Json(entry_body("ok.example.cn"))
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

/// A listing body with its `decision` given under another name.
fn decision_as(field: &str) -> Body {
    let mut body = entry_body("ok.example.cn");
    let decision = body.as_object_mut().unwrap().remove("decision").unwrap();
    body[field] = decision;
    Body::Json(body)
}

/// A listing body (with an unknown category, so that a body read as JSON is refused for that)
/// sent with the given content type.
fn typed_listing(content_type: &'static str) -> Body {
    let mut body = entry_body("ok.example.cn");
    body["category"] = json!("piracy");
    Body::Typed(content_type, body.to_string().into_bytes())
}

/// Listings, lifts, checks, keys and the read endpoints. The tables are kept one case to a line
/// (hence `rustfmt::skip`), so that a case reads across and a new one is a line to add.
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Auth::*;
    use Body::{Empty, Json, Raw};
    let tomorrow = (today_in_china() + time::Duration::days(1)).to_string();
    let mut cases = vec![
        case("no token", "POST", "/v1/entries", None, entry(), 401, "unauthenticated"),
        case("unknown token", "POST", "/v1/entries", Unknown, entry(), 401, "unauthenticated"),
        case("provider may not list", "POST", "/v1/entries", Role("access_provider"), entry(), 403, "forbidden"),
        case("admin may not list", "POST", "/v1/entries", Role("admin"), entry(), 403, "forbidden"),
        case("auditor may not list", "POST", "/v1/entries", Role("auditor"), entry(), 403, "forbidden"),
        case("role before shape", "POST", "/v1/entries", Role("dns_provider"), Raw(b"{not json".to_vec()), 403, "forbidden"),
        case("truncated JSON", "POST", "/v1/entries", Role("agency"), Raw(b"{\"domain\": ".to_vec()), 400, "invalid_json"),
        case("empty body", "POST", "/v1/entries", Role("agency"), Empty, 400, "invalid_json"),
        case("array body", "POST", "/v1/entries", Role("agency"), Json(json!([1, 2])), 400, "invalid_json"),
        case("domain of wrong type", "POST", "/v1/entries", Role("agency"), with("domain", json!(5)), 400, "invalid_json"),
        case("decision of wrong type", "POST", "/v1/entries", Role("agency"), with("decision", json!("yes")), 400, "invalid_json"),
        case("oversize body", "POST", "/v1/entries", Role("agency"), Raw(vec![b' '; 5 * 1024 * 1024]), 413, "payload_too_large"),
        case("no domain", "POST", "/v1/entries", Role("agency"), with("domain", Value::Null), 422, "invalid_domain"),
        case("domain checked before category", "POST", "/v1/entries", Role("agency"), Json(json!({"domain": "a..b", "category": "nope"})), 422, "invalid_domain"),
        case("unknown scope", "POST", "/v1/entries", Role("agency"), with("scope", json!("wide")), 422, "invalid_scope"),
        case("no category", "POST", "/v1/entries", Role("agency"), with("category", Value::Null), 422, "invalid_category"),
        case("unknown category", "POST", "/v1/entries", Role("agency"), with("category", json!("piracy")), 422, "invalid_category"),
        case("no decision", "POST", "/v1/entries", Role("agency"), with("decision", Value::Null), 422, "decision_required"),
        case("empty decision number", "POST", "/v1/entries", Role("agency"), with_decision("number", json!("  ")), 422, "invalid_decision"),
        case("no authority", "POST", "/v1/entries", Role("agency"), with_decision("authority", Value::Null), 422, "invalid_decision"),
        case("malformed date", "POST", "/v1/entries", Role("agency"), with_decision("date", json!("2024-5-1")), 422, "invalid_decision"),
        case("impossible date", "POST", "/v1/entries", Role("agency"), with_decision("date", json!("2024-02-30")), 422, "invalid_decision"),
        case("future date", "POST", "/v1/entries", Role("agency"), with_decision("date", json!(tomorrow)), 422, "invalid_decision"),
        case("malformed hash", "POST", "/v1/entries", Role("agency"), with_decision("document_sha256", json!("abc")), 422, "invalid_decision"),
        case("lift without document", "POST", "/v1/entries/x.example.cn/lift", Role("agency"), Json(json!({"reason": "r"})), 422, "document_required"),
        case("lift with future document", "POST", "/v1/entries/x.example.cn/lift", Role("telecom"), Json(json!({"document": {"number": "n", "authority": "a", "date": tomorrow}})), 422, "invalid_document"),
        case("lift of an invalid name", "POST", "/v1/entries/a_b.example.cn/lift", Role("agency"), Json(lift_body()), 422, "invalid_domain"),
        case("lift of nothing listed", "POST", "/v1/entries/x.example.cn/lift", Role("agency"), Json(lift_body()), 404, "not_listed"),
        case("lift approval by a provider", "POST", "/v1/entries/x.example.cn/lift/approve", Role("access_provider"), Empty, 403, "forbidden"),
        case("lift approval of an invalid name", "POST", "/v1/entries/a_b.example.cn/lift/approve", Role("agency"), Empty, 422, "invalid_domain"),
        case("lift approval with a bad entry id", "POST", "/v1/entries/x.example.cn/lift/approve", Role("agency"), Json(json!({"entry_id": "e"})), 422, "invalid_entry_id"),
        case("lift rejection with an overlong reason", "POST", "/v1/entries/x.example.cn/lift/reject", Role("telecom"), Json(json!({"reason": "r".repeat(2001)})), 422, "invalid_reason"),
        case("lift approval of nothing pending", "POST", "/v1/entries/x.example.cn/lift/approve", Role("agency"), Empty, 404, "not_pending"),
        case("lift rejection of nothing pending", "POST", "/v1/entries/x.example.cn/lift/reject", Role("telecom"), Json(json!({"reason": "r"})), 404, "not_pending"),
        case("lift approval read", "GET", "/v1/entries/x.example.cn/lift/approve", Role("agency"), Empty, 405, "method_not_allowed"),
        case("batch of wrong type", "POST", "/v1/check", Role("agency"), Json(json!({"domains": "a.example.cn"})), 400, "invalid_json"),
        case("batch of numbers", "POST", "/v1/check", Role("agency"), Json(json!({"domains": [1, 2]})), 400, "invalid_json"),
        case("key with unknown role", "POST", "/v1/keys", Role("admin"), Json(json!({"name": "x", "role": "root"})), 422, "invalid_role"),
        case("key with unknown province", "POST", "/v1/keys", Role("admin"), Json(json!({"name": "x", "role": "agency", "province": "99"})), 422, "invalid_province"),
        case("key outside the domestic system", "POST", "/v1/keys", Role("admin"), Json(json!({"name": "x", "role": "agency", "province": "71"})), 422, "invalid_province"),
        case("key without name", "POST", "/v1/keys", Role("admin"), Json(json!({"role": "agency"})), 422, "invalid_name"),
        case("key by a non-admin", "POST", "/v1/keys", Role("telecom"), Json(json!({"name": "x", "role": "admin"})), 403, "forbidden"),
        case("check without a name", "GET", "/v1/check", Role("agency"), Empty, 400, "invalid_parameter"),
        case("check of a URL", "GET", "/v1/check?domain=http%3A%2F%2Fa.example.cn%2F", Role("agency"), Empty, 422, "invalid_domain"),
        case("feed after not a number", "GET", "/v1/feed?after=x", Role("agency"), Empty, 400, "invalid_parameter"),
        case("feed after negative", "GET", "/v1/feed?after=-1", Role("agency"), Empty, 400, "invalid_parameter"),
        case("feed limit zero", "GET", "/v1/feed?limit=0", Role("agency"), Empty, 400, "invalid_parameter"),
        case("feed limit too large", "GET", "/v1/feed?limit=10001", Role("agency"), Empty, 400, "invalid_parameter"),
        case("feed wait too long", "GET", "/v1/feed?wait=31", Role("agency"), Empty, 400, "invalid_parameter"),
        case("entries of unknown status", "GET", "/v1/entries?status=gone", Role("agency"), Empty, 400, "invalid_parameter"),
        case("entries of a lift status", "GET", "/v1/entries?status=lift_pending", Role("agency"), Empty, 400, "invalid_parameter"),
        case("entries limit not a number", "GET", "/v1/entries?limit=ten", Role("agency"), Empty, 400, "invalid_parameter"),
        case("entries cursor not ours", "GET", "/v1/entries?cursor=zzz", Role("agency"), Empty, 400, "invalid_parameter"),
        case("history of an invalid name", "GET", "/v1/entries/-bad.example.cn", Role("agency"), Empty, 422, "invalid_domain"),
        case("unknown path", "GET", "/v1/nothing", Role("agency"), Empty, 404, "not_found"),
    ];
    cases.extend(media_type_cases());
    cases.extend(unknown_field_cases());
    cases.extend(date_floor_cases());
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
        cases.push(case("invalid domain", "POST", "/v1/entries", Role("agency"), with("domain", json!(domain)), 422, "invalid_domain"));
    }
    for suffix in ["com", "com.cn", "github.io", "COM.CN.", "中国"] {
        cases.push(case("public suffix", "POST", "/v1/entries", Role("telecom"), with("domain", json!(suffix)), 422, "public_suffix"));
    }
    cases
}

/// JSON bodies are `application/json` (parameters and case aside) or `application/*+json`;
/// anything else, or no type at all, is refused before the body is parsed.
#[rustfmt::skip]
fn media_type_cases() -> Vec<Case> {
    use Auth::*;
    use Body::{Typed, Untyped};
    let listing = entry_body("ok.example.cn").to_string().into_bytes();
    let notice = "/v1/notices/0190b5c4-0000-7000-8000-000000000000/ack";
    vec![
        case("listing as text/plain", "POST", "/v1/entries", Role("agency"), Typed("text/plain", listing.clone()), 415, "unsupported_media_type"),
        case("listing without a content type", "POST", "/v1/entries", Role("agency"), Untyped(listing.clone()), 415, "unsupported_media_type"),
        case("listing as a form", "POST", "/v1/entries", Role("agency"), Typed("application/x-www-form-urlencoded", listing.clone()), 415, "unsupported_media_type"),
        case("listing as JSON text", "POST", "/v1/entries", Role("agency"), Typed("text/json", listing.clone()), 415, "unsupported_media_type"),
        case("listing as NDJSON", "POST", "/v1/entries", Role("agency"), Typed("application/x-ndjson", listing), 415, "unsupported_media_type"),
        case("role before media type", "POST", "/v1/entries", Role("auditor"), Typed("text/plain", b"{}".to_vec()), 403, "forbidden"),
        case("batch check as text/plain", "POST", "/v1/check", Role("agency"), Typed("text/plain", br#"{"domains": ["a.example.cn"]}"#.to_vec()), 415, "unsupported_media_type"),
        case("key without a content type", "POST", "/v1/keys", Role("admin"), Untyped(br#"{"name": "x", "role": "agency"}"#.to_vec()), 415, "unsupported_media_type"),
        case("ack note as text/plain", "POST", notice, Role("access_provider"), Typed("text/plain", br#"{"note": "done"}"#.to_vec()), 415, "unsupported_media_type"),
        // Read as JSON, and so refused for the unknown category rather than the type.
        case("JSON with a charset", "POST", "/v1/entries", Role("agency"), typed_listing("application/json; charset=utf-8"), 422, "invalid_category"),
        case("JSON in capitals", "POST", "/v1/entries", Role("agency"), typed_listing("Application/JSON"), 422, "invalid_category"),
        case("a +json type", "POST", "/v1/entries", Role("agency"), typed_listing("application/merge-patch+json"), 422, "invalid_category"),
        case("a +json type with a parameter", "POST", "/v1/entries", Role("agency"), typed_listing("application/vnd.siteban+json;charset=UTF-8"), 422, "invalid_category"),
    ]
}

/// A field no request of the path has, at the top of the body or nested in it, is refused
/// and named, rather than ignored (a misspelled `decision` used to read as a missing one).
#[rustfmt::skip]
fn unknown_field_cases() -> Vec<Case> {
    use Auth::*;
    use Body::Json;
    let case_path = |step: &str| format!("/v1/cases/0190b5c4-0000-7000-8000-000000000000/{step}");
    let notice = "/v1/notices/0190b5c4-0000-7000-8000-000000000000/ack";
    let lift = json!({"reason": "r", "document": {"number": "n", "authority": "a", "date": "2024-05-01", "sha": "x"}});
    let mut letter = crate::helpers::decision(1);
    letter["dated"] = json!("2024-05-01");
    vec![
        unknown("misspelled decision", "POST", "/v1/entries", Role("agency"), decision_as("decison"), "decison"),
        unknown("extra field beside decision", "POST", "/v1/entries", Role("agency"), with("colour", json!("red")), "colour"),
        unknown("unknown field in the decision", "POST", "/v1/entries", Role("agency"), with_decision("dat", json!("2024-05-01")), "dat"),
        unknown("unknown field in an override", "POST", "/v1/entries", Role("telecom"), with("override_protection", json!({"justificaton": "x"})), "justificaton"),
        unknown("unknown field in a lift document", "POST", "/v1/entries/x.example.cn/lift", Role("agency"), Json(lift), "sha"),
        unknown("unknown field in an approval", "POST", "/v1/entries/x.example.cn/approve", Role("agency"), Json(json!({"entryid": "e"})), "entryid"),
        unknown("unknown field in a lift approval", "POST", "/v1/entries/x.example.cn/lift/approve", Role("agency"), Json(json!({"entryid": "e"})), "entryid"),
        unknown("unknown field in a batch check", "POST", "/v1/check", Role("agency"), Json(json!({"domains": ["a.example.cn"], "names": []})), "names"),
        unknown("unknown field in a key", "POST", "/v1/keys", Role("admin"), Json(json!({"name": "x", "role": "agency", "provnce": "11"})), "provnce"),
        unknown("unknown field in a provider", "POST", "/v1/providers", Role("admin"), provider_with("webhook", json!("https://hooks.example.cn/")), "webhook"),
        unknown("unknown field in a protected name", "POST", "/v1/protected", Role("admin"), Json(json!({"domain": "x.example.cn", "notes": "n"})), "notes"),
        unknown("unknown field in an ack", "POST", notice, Role("access_provider"), Json(json!({"notes": "done"})), "notes"),
        unknown("unknown field in a case", "POST", "/v1/cases", Role("agency:11"), Json(json!({"domian": "x.example.cn", "recorded": false})), "domian"),
        unknown("unknown field in a step note", "POST", &case_path("accept"), Role("telecom"), Json(json!({"notes": "n"})), "notes"),
        unknown("unknown field in a suspension letter", "POST", &case_path("suspension-request"), Role("agency"), Json(json!({"letter": letter, "ground": "property"})), "dated"),
        unknown("unknown field in a closure", "POST", &case_path("close"), Role("telecom"), Json(json!({"measure": ["blacklist"]})), "measure"),
        unknown("unknown field in a referral document", "POST", "/v1/referrals", Role("agency"), Json(json!({"to": "ca:11", "subject": "s", "summary": "s", "documents": [{"knd": "letter"}]})), "knd"),
    ]
}

/// Dates before `documents.earliest_date` (2000-01-01 by default) are refused with the code of
/// the document that carries them.
#[rustfmt::skip]
fn date_floor_cases() -> Vec<Case> {
    use Auth::*;
    use Body::Json;
    let dated = |date: &str| json!({"number": "京市监处罚〔2024〕1号", "authority": "北京市市场监督管理局", "date": date});
    let case_path = |step: &str| format!("/v1/cases/0190b5c4-0000-7000-8000-000000000000/{step}");
    vec![
        case("decision dated year 0", "POST", "/v1/entries", Role("agency"), with_decision("date", json!("0000-01-01")), 422, "invalid_decision"),
        case("decision dated 1900", "POST", "/v1/entries", Role("agency"), with_decision("date", json!("1900-01-01")), 422, "invalid_decision"),
        case("decision the day before the floor", "POST", "/v1/entries", Role("telecom"), with_decision("date", json!("1999-12-31")), 422, "invalid_decision"),
        case("lift document dated 1900", "POST", "/v1/entries/x.example.cn/lift", Role("agency"), Json(json!({"document": dated("1900-01-01")})), 422, "invalid_document"),
        case("suspension letter dated 1900", "POST", &case_path("suspension-request"), Role("agency"), Json(json!({"letter": dated("1900-01-01"), "ground": "property"})), 422, "invalid_letter"),
        case("case decision dated 1900", "POST", &case_path("decision"), Role("agency"), Json(json!({"decision": dated("1900-01-01"), "recommendation": dated("2024-05-01")})), 422, "invalid_decision"),
        case("recommendation dated 1900", "POST", &case_path("decision"), Role("agency"), Json(json!({"decision": dated("2024-05-01"), "recommendation": dated("1900-01-01")})), 422, "invalid_recommendation"),
    ]
}

fn provider_with(field: &str, value: Value) -> Body {
    let mut body =
        json!({"name": "Example Hosting", "kind": "access", "ranges": ["203.0.113.0/24"]});
    body[field] = value;
    Body::Json(body)
}

/// Providers, keys bound to them, locating and notices.
#[rustfmt::skip]
fn notice_cases() -> Vec<Case> {
    use Auth::*;
    use Body::{Empty, Json, Raw};
    let mut listing = entry_body("ok.example.cn");
    listing["providers"] = json!(["p_nope"]);
    let mut listing_bad_type = entry_body("ok.example.cn");
    listing_bad_type["providers"] = json!("p_nope");
    let notice = "/v1/notices/0190b5c4-0000-7000-8000-000000000000/ack";
    vec![
        case("provider by a non-admin", "POST", "/v1/providers", Role("agency"), provider_with("name", json!("x")), 403, "forbidden"),
        case("provider without name", "POST", "/v1/providers", Role("admin"), provider_with("name", Value::Null), 422, "invalid_name"),
        case("provider of unknown kind", "POST", "/v1/providers", Role("admin"), provider_with("kind", json!("cdn")), 422, "invalid_kind"),
        case("provider with unknown province", "POST", "/v1/providers", Role("admin"), provider_with("province", json!("99")), 422, "invalid_province"),
        case("range with host bits", "POST", "/v1/providers", Role("admin"), provider_with("ranges", json!(["10.1.2.3/8"])), 422, "invalid_range"),
        case("range that is a name", "POST", "/v1/providers", Role("admin"), provider_with("ranges", json!(["example.cn/24"])), 422, "invalid_range"),
        case("ranges of wrong type", "POST", "/v1/providers", Role("admin"), provider_with("ranges", json!("10.0.0.0/8")), 400, "invalid_json"),
        case("ranges for a DNS provider", "POST", "/v1/providers", Role("admin"), Json(json!({"name": "d", "kind": "dns", "ranges": ["10.0.0.0/8"]})), 422, "invalid_range"),
        case("malformed name-server suffix", "POST", "/v1/providers", Role("admin"), Json(json!({"name": "d", "kind": "dns", "nameservers": ["a..b"]})), 422, "invalid_nameserver"),
        case("name servers for an access provider", "POST", "/v1/providers", Role("admin"), provider_with("nameservers", json!(["dnsco.cn"])), 422, "invalid_nameserver"),
        case("webhook that is not http", "POST", "/v1/providers", Role("admin"), provider_with("webhook_url", json!("ftp://hooks.example.cn/")), 422, "invalid_webhook_url"),
        case("webhook with credentials", "POST", "/v1/providers", Role("admin"), provider_with("webhook_url", json!("https://u:p@hooks.example.cn/")), 422, "invalid_webhook_url"),
        case("webhook that is not a URL", "POST", "/v1/providers", Role("admin"), provider_with("webhook_url", json!("hooks")), 422, "invalid_webhook_url"),
        case("unknown provider", "GET", "/v1/providers/p_nope", Role("admin"), Empty, 404, "not_found"),
        case("listing naming an unknown provider", "POST", "/v1/entries", Role("agency"), Json(listing), 422, "unknown_provider"),
        case("listing providers of wrong type", "POST", "/v1/entries", Role("agency"), Json(listing_bad_type), 400, "invalid_json"),
        case("provider key without provider", "POST", "/v1/keys", Role("admin"), Json(json!({"name": "x", "role": "dns_provider"})), 422, "provider_required"),
        case("provider key of an unknown provider", "POST", "/v1/keys", Role("admin"), Json(json!({"name": "x", "role": "dns_provider", "provider_id": "p_nope"})), 422, "unknown_provider"),
        case("locate without a name", "GET", "/v1/locate", Role("agency"), Empty, 400, "invalid_parameter"),
        case("locate of a URL", "GET", "/v1/locate?domain=http%3A%2F%2Fa.example.cn%2F", Role("telecom"), Empty, 422, "invalid_domain"),
        case("notices of unknown status", "GET", "/v1/notices?status=gone", Role("access_provider"), Empty, 400, "invalid_parameter"),
        case("notices limit zero", "GET", "/v1/notices?limit=0", Role("dns_provider"), Empty, 400, "invalid_parameter"),
        case("notices cursor not ours", "GET", "/v1/notices?cursor=zzz", Role("access_provider"), Empty, 400, "invalid_parameter"),
        case("notices of another provider", "GET", "/v1/notices?provider=p_other", Role("access_provider"), Empty, 400, "invalid_parameter"),
        case("regulator notices without provider", "GET", "/v1/notices", Role("agency"), Empty, 400, "invalid_parameter"),
        case("ack of a malformed id", "POST", "/v1/notices/not-an-id/ack", Role("access_provider"), Empty, 404, "not_found"),
        case("ack of an unknown notice", "POST", notice, Role("dns_provider"), Empty, 404, "not_found"),
        case("ack with malformed JSON", "POST", notice, Role("access_provider"), Raw(b"{\"note\": ".to_vec()), 400, "invalid_json"),
        case("ack by a regulator", "POST", notice, Role("agency"), Empty, 403, "forbidden"),
        case("compliance for a provider", "GET", "/v1/compliance", Role("dns_provider"), Empty, 403, "forbidden"),
    ]
}

/// Shared records: identifiers, fields, queries and imports.
#[rustfmt::skip]
fn record_cases() -> Vec<Case> {
    use Auth::*;
    use Body::{Empty, Json, Raw, Typed};
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
        Json(body)
    };
    let registration_with = |field, value| with(&registration, field, value);
    let recordal_with = |field, value| with(&recordal, field, value);
    let code_path = "/v1/registrations/91110108551385082Q";
    let icp_path = "/v1/recordals/%E4%BA%ACICP%E5%A4%8713025326%E5%8F%B7-2";
    let ndjson = |text: &str| Typed("application/x-ndjson", text.as_bytes().to_vec());
    vec![
        case("registration with a malformed code", "PUT", "/v1/registrations/9111010855138508IQ", Role("agency"), Json(registration.clone()), 422, "invalid_uscc"),
        case("registration with a short code", "PUT", "/v1/registrations/911101", Role("agency"), Json(registration.clone()), 422, "invalid_uscc"),
        case("registration with malformed JSON", "PUT", code_path, Role("agency"), Raw(b"{\"name\": ".to_vec()), 400, "invalid_json"),
        case("registration with a number for a name", "PUT", code_path, Role("agency"), registration_with("name", json!(5)), 400, "invalid_json"),
        unknown("registration with an unknown field", "PUT", code_path, Role("agency"), registration_with("colour", json!("red")), "colour"),
        unknown("recordal with an unknown field", "PUT", icp_path, Role("telecom"), recordal_with("sponsor", json!("x")), "sponsor"),
        case("registration without a name", "PUT", code_path, Role("agency"), registration_with("name", json!(" ")), 422, "invalid_record"),
        case("registration with an unknown status", "PUT", code_path, Role("agency"), registration_with("status", json!("sleeping")), 422, "invalid_record"),
        case("registration with a foreign province", "PUT", code_path, Role("agency"), registration_with("registered_province", json!("81")), 422, "invalid_province"),
        case("registration whose body names another code", "PUT", code_path, Role("agency"), registration_with("uscc", json!("91110000600037341L")), 422, "invalid_record"),
        case("registration by telecom", "PUT", code_path, Role("telecom"), Json(registration.clone()), 403, "forbidden"),
        case("registration read with a bad code", "GET", "/v1/registrations/nope", Role("telecom"), Empty, 422, "invalid_uscc"),
        case("registration never made", "GET", code_path, Role("telecom"), Empty, 404, "not_found"),
        case("recordal with a malformed number", "PUT", "/v1/recordals/ICP13025326", Role("telecom"), Json(recordal.clone()), 422, "invalid_icp_number"),
        case("recordal with a licence for a number", "PUT", "/v1/recordals/%E4%BA%ACB2-20170489", Role("telecom"), Json(recordal.clone()), 422, "invalid_icp_number"),
        case("recordal with a malformed sponsor code", "PUT", icp_path, Role("telecom"), recordal_with("sponsor_code", json!("9111")), 422, "invalid_uscc"),
        case("recordal without domains", "PUT", icp_path, Role("telecom"), recordal_with("domains", json!([])), 422, "invalid_record"),
        case("recordal with a URL for a domain", "PUT", icp_path, Role("telecom"), recordal_with("domains", json!(["http://shop.example.cn/"])), 422, "invalid_domain"),
        case("recordal of a public suffix", "PUT", icp_path, Role("telecom"), recordal_with("domains", json!(["com.cn"])), 422, "public_suffix"),
        case("recordal without an access province", "PUT", icp_path, Role("telecom"), recordal_with("access_province", Value::Null), 422, "invalid_province"),
        case("recordal with a number for domains", "PUT", icp_path, Role("telecom"), recordal_with("domains", json!(5)), 400, "invalid_json"),
        case("recordal by an agency", "PUT", icp_path, Role("agency"), Json(recordal.clone()), 403, "forbidden"),
        case("recordal never made", "GET", icp_path, Role("agency"), Empty, 404, "not_found"),
        case("recordals without a domain", "GET", "/v1/recordals", Role("agency"), Empty, 400, "invalid_parameter"),
        case("recordals of a malformed domain", "GET", "/v1/recordals?domain=a..b", Role("agency"), Empty, 422, "invalid_domain"),
        case("verify without a domain", "GET", "/v1/verify", Role("auditor"), Empty, 400, "invalid_parameter"),
        case("verify of a URL", "GET", "/v1/verify?domain=http%3A%2F%2Fx.cn%2F", Role("auditor"), Empty, 422, "invalid_domain"),
        case("verify by a provider", "GET", "/v1/verify?domain=x.example.cn", Role("access_provider"), Empty, 403, "forbidden"),
        case("import of JSON", "POST", "/v1/recordals/import", Role("telecom"), Json(json!([recordal.clone()])), 415, "unsupported_media_type"),
        case("import without a content type", "POST", "/v1/registrations/import", Role("agency"), Empty, 415, "unsupported_media_type"),
        case("import with a bad line", "POST", "/v1/recordals/import", Role("telecom"), ndjson("{\"icp_number\": \"京ICP备1号\"}\n"), 422, "import_rejected"),
        case("import of CSV with an unknown column", "POST", "/v1/registrations/import", Role("agency"), Typed("text/csv", b"uscc,colour\n91110108551385082Q,red\n".to_vec()), 422, "import_rejected"),
        case("import by the other side", "POST", "/v1/registrations/import", Role("telecom"), ndjson(""), 403, "forbidden"),
        case("method not allowed on records", "DELETE", code_path, Role("agency"), Empty, 405, "method_not_allowed"),
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
    // Only a provincial market regulator opens cases.
    tokens.insert("agency:11", app.create_key("agency", Some("11")).await);
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
            Body::Untyped(bytes) => request.body(bytes),
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
        if let Some(field) = case.names {
            assert!(
                message.contains(&format!("{field:?}")),
                "{}: the message does not name {field:?}: {message:?}",
                case.name
            );
        }
    }
    // Nothing was written: no feed event, no entry, no new key.
    assert_eq!(app.registry.store.head().await.unwrap(), 0);
    let (entries, _) = app
        .registry
        .store
        .entries(siteban::store::EntryQuery {
            filter: siteban::store::StatusFilter::All,
            after: 0,
            limit: 100,
        })
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

#[tokio::test]
async fn the_earliest_document_date_is_a_setting() {
    let app = spawn_app_with(Store::Embedded, |settings| {
        settings.documents.earliest_date = time::macros::date!(2024 - 01 - 01);
    })
    .await;
    let agency = app.create_key("agency", None).await;
    let dated = |domain: &str, date: &str| {
        let mut body = entry_body(domain);
        body["decision"]["date"] = json!(date);
        body
    };
    let early = app
        .post(
            &agency,
            "/v1/entries",
            &dated("early.example.cn", "2023-12-31"),
        )
        .await;
    let body = expect(early, 422, "a decision before the floor").await;
    assert_eq!(body["error"]["code"], "invalid_decision");
    assert_eq!(
        body["error"]["message"],
        "date 2023-12-31 is before 2024-01-01, the earliest date this registry accepts"
    );
    let on_time = app
        .post(
            &agency,
            "/v1/entries",
            &dated("early.example.cn", "2024-01-01"),
        )
        .await;
    expect(on_time, 201, "a decision on the floor").await;
}

/// The schema a `$ref` of the document points to, or the schema itself.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(path) => document
            .pointer(path.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{path} does not resolve")),
        None => schema,
    }
}

/// Every object schema in `schema`, its branches (`oneOf`, `anyOf`, `allOf`) and its arrays'
/// items, each with the path that leads to it.
fn objects<'a>(
    document: &'a Value,
    schema: &'a Value,
    at: String,
    out: &mut Vec<(String, &'a Value)>,
) {
    let schema = resolve(document, schema);
    for keyword in ["oneOf", "anyOf", "allOf"] {
        for (i, branch) in schema[keyword].as_array().into_iter().flatten().enumerate() {
            objects(document, branch, format!("{at}/{keyword}/{i}"), out);
        }
    }
    if schema.get("items").is_some() {
        objects(document, &schema["items"], format!("{at}/items"), out);
    }
    if let Some(properties) = schema["properties"].as_object() {
        out.push((at.clone(), schema));
        for (name, property) in properties {
            objects(document, property, format!("{at}/{name}"), out);
        }
    }
}

fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The document says what the server enforces (the schemathesis run checks it request by
/// request, `scripts/schemathesis`); this keeps the rules most easily lost from coming
/// loose again: bounded `limit`s, non-empty domains, required fields that may not be `null`,
/// one provider shape per kind and one key shape per role, unique operation ids.
#[tokio::test]
async fn the_openapi_document_states_the_servers_rules() {
    let app = spawn_app(Store::Embedded).await;
    let document = expect(
        app.get(&app.admin_token, "/openapi.json").await,
        200,
        "the OpenAPI document",
    )
    .await;
    let mut operation_ids = std::collections::HashSet::new();
    let mut limits = 0;
    let mut domains = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let label = format!("{method} {path}");
            let id = operation["operationId"].as_str().unwrap();
            assert!(
                operation_ids.insert(id),
                "{label}: operationId {id} is not unique"
            );
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                let schema = resolve(&document, &parameter["schema"]);
                if name == "limit" {
                    limits += 1;
                    assert_eq!(schema["minimum"], 1, "{label}: limit");
                    assert!(schema["maximum"].as_u64().is_some(), "{label}: limit");
                }
                if name == "domain" {
                    domains += 1;
                    assert_eq!(schema["minLength"], 1, "{label}: domain");
                    assert_eq!(schema["format"], "domain-name", "{label}: domain");
                }
                if ["after", "wait"].contains(&name) {
                    assert!(schema["maximum"].as_u64().is_some(), "{label}: {name}");
                }
            }
            let Some(content) = operation["requestBody"]["content"].as_object() else {
                continue;
            };
            for (media_type, body) in content {
                let mut found = Vec::new();
                objects(
                    &document,
                    &body["schema"],
                    format!("{label} {media_type}"),
                    &mut found,
                );
                for (at, object) in found {
                    for required in object["required"].as_array().into_iter().flatten() {
                        let name = required.as_str().unwrap();
                        let property = resolve(&document, &object["properties"][name]);
                        assert!(
                            !types(property).contains(&"null"),
                            "{at}: {name} is required and may not be null"
                        );
                    }
                    if let Some(domain) = object["properties"].get("domain") {
                        domains += 1;
                        let domain = resolve(&document, domain);
                        assert_eq!(domain["minLength"], 1, "{at}: domain");
                    }
                }
            }
        }
    }
    assert_eq!(limits, 4, "limit parameters");
    assert!(domains >= 10, "domain parameters and fields: {domains}");

    let schemas = &document["components"]["schemas"];
    let providers = schemas["ProviderRequest"]["oneOf"].as_array().unwrap();
    let kinds: Vec<(&Value, &Value, &Value)> = providers
        .iter()
        .map(|p| {
            (
                &p["properties"]["kind"]["enum"],
                &p["properties"]["ranges"],
                &p["properties"]["nameservers"],
            )
        })
        .collect();
    assert_eq!(kinds.len(), 2);
    assert_eq!(kinds[0].0, &json!(["access"]));
    assert_eq!(
        kinds[0].2["maxItems"], 0,
        "an access provider has no name servers"
    );
    assert_eq!(kinds[1].0, &json!(["dns"]));
    assert_eq!(kinds[1].1["maxItems"], 0, "a DNS provider has no ranges");
    for provider in providers {
        assert_eq!(provider["required"], json!(["name", "kind"]));
    }
    let keys = schemas["CreateKeyRequest"]["oneOf"].as_array().unwrap();
    for key in keys {
        let roles = key["properties"]["role"]["enum"].as_array().unwrap();
        let names_provider = key["required"]
            .as_array()
            .unwrap()
            .contains(&json!("provider_id"));
        for role in roles {
            let provider_role =
                ["access_provider", "dns_provider"].contains(&role.as_str().unwrap());
            assert_eq!(names_provider, provider_role, "{role}: provider_id");
        }
    }
}
