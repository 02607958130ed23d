//! What `/openapi.json` says of request values beyond their JSON type: the lengths, patterns,
//! enumerations and formats that the handlers enforce, so that a request the document calls
//! valid is one the server accepts. The handlers stay the authority; these functions only
//! describe them. The tests below check the patterns against the handlers' own rules,
//! `tests/api/bad_input.rs` the document as served, and `scripts/schemathesis` both, request
//! by request.
//!
//! Rules that JSON Schema cannot state (a name that is a public suffix, the check character
//! of a credit code, a date after today, a provider id that exists) are described in words
//! and, where a format names the value (`domain-name`, `icp-number`, `cidr`), by that format.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AnyOfBuilder, Array, ArrayBuilder, ArrayItems, Object, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, SchemaType, Type,
};

use crate::cases::{Ground, Measure, Org};
use crate::domain::{Category, DocumentType, Province, Role, Scope};
use crate::notices::model::ProviderKind;

/// Gives the request type `$ty` the OpenAPI schema `$schema` (a schema, or a reference to
/// one): for the types whose document states rules their serde derive cannot.
macro_rules! documented_as {
    ($ty:ty => $schema:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $schema.into()
            }
        }

        impl utoipa::ToSchema for $ty {}
    };
}
pub(crate) use documented_as;

// The bounds of request fields: the document states them, the handlers enforce them.
/// Most characters of a summary or a referral's result.
pub const MAX_SUMMARY: usize = 4000;
/// Most characters of a reason or a note.
pub const MAX_TEXT: usize = 2000;
/// Most characters of an operator's name, a subject or a document number.
pub const MAX_NAME: usize = 200;
/// Most documents (or evidence hashes) of one request.
pub const MAX_DOCUMENTS: usize = 100;
/// Most ranges or name-server suffixes of one provider.
pub const MAX_ITEMS: usize = 10_000;
/// Longest webhook URL, in bytes.
pub const MAX_URL: usize = 2000;

/// The characters `str::trim` removes (Unicode `White_Space`), as the inside of a regular
/// expression class. Written out rather than `\s`, whose meaning differs between regular
/// expression dialects.
const SPACE: &str = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// The characters `char::is_control` is true of (Unicode `Cc`), as the inside of a class.
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn nullable_string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

fn enumeration<'a>(values: impl IntoIterator<Item = &'a str>) -> ObjectBuilder {
    string().enum_values(Some(values))
}

/// The pattern of a text field that the handlers trim (`str::trim`) before they judge it:
/// after trimming, at most `max` characters, at least one when `required`, and no control
/// character unless `controls`. Surrounding whitespace, however long, is allowed, because it
/// is trimmed: a length bound on the raw string would say otherwise.
fn trimmed_pattern(max: usize, required: bool, controls: bool) -> String {
    let (edge, inner) = if controls {
        (format!("[^{SPACE}]"), r"[\s\S]".to_string())
    } else {
        (format!("[^{SPACE}{CONTROL}]"), format!("[^{CONTROL}]"))
    };
    let core = match max {
        0 | 1 => edge,
        _ => format!("{edge}({inner}{{0,{}}}{edge})?", max - 2),
    };
    let core = if required { core } else { format!("({core})?") };
    format!("^[{SPACE}]*{core}[{SPACE}]*$")
}

/// A required text of 1 to `max` characters once trimmed; control characters allowed
/// (`text()` in the case handlers).
fn required_text(max: usize) -> Object {
    string()
        .pattern(Some(trimmed_pattern(max, true, true)))
        .build()
}

/// An optional text of at most `max` characters once trimmed; `null` is absent.
fn optional_text(max: usize) -> ObjectBuilder {
    nullable_string().pattern(Some(trimmed_pattern(max, false, true)))
}

/// One line of 1 to `max` characters once trimmed, without control characters.
fn line(max: usize) -> ObjectBuilder {
    string().pattern(Some(trimmed_pattern(max, true, false)))
}

/// An optional line of a record: empty or blank (absent), or as [`line`].
fn optional_line(max: usize) -> ObjectBuilder {
    nullable_string().pattern(Some(trimmed_pattern(max, false, false)))
}

/// A reason or a note: at most 2,000 characters once trimmed.
pub fn reason() -> Object {
    optional_text(MAX_TEXT).build()
}

/// An operator's name: at most 200 characters once trimmed.
pub fn operator_name() -> Object {
    optional_text(MAX_NAME).build()
}

/// The name of a key or provider in an update: `null` or absent leaves it.
pub fn optional_display_name() -> Object {
    nullable_string()
        .pattern(Some(trimmed_pattern(super::MAX_DISPLAY_NAME, true, false)))
        .build()
}

/// The name of a key or a provider: one line of 1 to 200 characters.
pub fn display_name() -> Object {
    line(super::MAX_DISPLAY_NAME)
        .examples(["Example Hosting Beijing"])
        .build()
}

/// A number or an authority of a decision, a letter or a lifting document.
pub fn document_line() -> Object {
    line(crate::domain::MAX_DOCUMENT_TEXT).build()
}

/// A required record field (a name, a sponsor, an access provider): one line of 1 to 200
/// characters.
pub fn record_line() -> Object {
    line(crate::records::MAX_TEXT_CHARS).build()
}

/// An optional record field: empty, or one line of at most 200 characters.
pub fn optional_record_line() -> Object {
    optional_line(crate::records::MAX_TEXT_CHARS).build()
}

/// A required text of 1 to 200 characters (a referral's subject).
pub fn subject() -> Object {
    required_text(MAX_NAME)
}

/// A required text of 1 to 2,000 characters (the reason of a return or a withdrawal).
pub fn required_reason() -> Object {
    required_text(MAX_TEXT)
}

/// A required text of 1 to 4,000 characters (a summary, a referral's result).
pub fn summary() -> Object {
    required_text(MAX_SUMMARY)
}

/// A domain name as `domain::DomainName::parse` takes it: Unicode or ASCII, any case, at
/// most one trailing dot. The rules of the name (labels, lengths in A-label form, no IP
/// literal) are the format's; the input is at most 1,024 bytes.
pub fn domain_name() -> ObjectBuilder {
    string()
        .format(Some(SchemaFormat::Custom("domain-name".into())))
        .min_length(Some(1))
        .max_length(Some(1024))
}

/// A domain that may be listed: a name as [`domain_name`], and not itself a public suffix
/// (`com.cn`, `github.io`), which is refused with `422 public_suffix`.
pub fn listable_domain() -> Object {
    domain_name()
        .description(Some(
            "A domain name (Unicode or ASCII); a public suffix is refused with public_suffix.",
        ))
        .examples(["shop.example.cn"])
        .build()
}

/// Any domain name, as [`domain_name`].
pub fn any_domain() -> Object {
    domain_name().examples(["shop.example.cn"]).build()
}

/// An optional domain name (`null` is absent).
pub fn optional_domain() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(SchemaFormat::Custom("domain-name".into())))
        .min_length(Some(1))
        .max_length(Some(1024))
        .build()
}

/// A list of name-server host suffixes (DNS providers).
pub fn nameservers() -> Array {
    list(any_domain(), MAX_ITEMS).build()
}

/// A list of at most `max` items; `null` is none.
fn list(items: impl Into<ArrayItems>, max: usize) -> ArrayBuilder {
    nullable_list(items).max_items(Some(max))
}

/// A GB/T 2260 province code (`"11"` Beijing … `"65"` Xinjiang).
pub fn province() -> ObjectBuilder {
    enumeration(Province::ALL.iter().map(|p| p.code()))
}

/// A required province code.
pub fn required_province() -> Object {
    province().examples(["11"]).build()
}

/// An optional province code; `null` is none (national).
pub fn optional_province() -> Object {
    let codes = Province::ALL.iter().map(|p| Some(p.code()));
    nullable_string()
        .enum_values(Some(codes.chain([None])))
        .examples(["11"])
        .build()
}

/// A record's province: a province code, surrounding whitespace aside; empty or blank is
/// none.
pub fn record_province() -> Object {
    let codes: Vec<&str> = Province::ALL.iter().map(|p| p.code()).collect();
    nullable_string()
        .pattern(Some(format!(
            "^[{SPACE}]*({})?[{SPACE}]*$",
            codes.join("|")
        )))
        .examples(["11"])
        .build()
}

/// A category code of the registry.
pub fn category() -> Object {
    enumeration(Category::ALL.iter().map(|c| c.as_str()))
        .examples(["counterfeit_goods"])
        .build()
}

/// `subtree` (the default, also for `null`) or `exact`.
pub fn scope() -> Object {
    let values = Scope::ALL.iter().map(|s| Some(s.as_str()));
    nullable_string()
        .enum_values(Some(values.chain([None])))
        .description(Some("`subtree` (default) or `exact`."))
        .build()
}

/// A key's role.
pub fn role() -> Object {
    enumeration(Role::ALL.iter().map(|r| r.as_str()))
        .examples(["agency"])
        .build()
}

/// The grounds of an emergency suspension.
pub fn ground() -> Object {
    enumeration(Ground::ALL.iter().map(|g| g.as_str()))
        .description(Some("`national_security`, `public_safety` or `property`."))
        .build()
}

/// The measures a case is closed with.
pub fn measures() -> Array {
    let measure = enumeration(Measure::ALL.iter().map(|m| m.as_str())).build();
    nullable_list(measure)
        .description(Some(
            "Any of `cancel_recordal`, `stop_access`, `stop_resolution`, `blacklist`.",
        ))
        .build()
}

/// The organisation a referral goes to: `amr:<province>`, `samr`, `ca:<province>`, `miit`.
pub fn organisation() -> Object {
    let provincial = Province::ALL
        .iter()
        .flat_map(|p| [Org::Amr(*p).to_string(), Org::Ca(*p).to_string()]);
    let all: Vec<String> = ["samr".to_string(), "miit".to_string()]
        .into_iter()
        .chain(provincial)
        .collect();
    string()
        .enum_values(Some(all))
        .description(Some(
            "The receiving organisation: `amr:<province>`, `samr`, `ca:<province>` or `miit`.",
        ))
        .examples(["ca:11"])
        .build()
}

fn nullable_list(items: impl Into<ArrayItems>) -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(items)
}

/// The id of a registered provider, `p_` and 16 hex digits (`format: provider-id`). That it
/// names a provider is checked against the register (`422 unknown_provider`); a pattern
/// would add nothing, as an id of another shape names none either.
pub fn provider_id() -> Object {
    string()
        .format(Some(SchemaFormat::Custom("provider-id".into())))
        .description(Some("A registered provider's id (`p_` and 16 hex digits)."))
        .build()
}

/// Ids of providers to notify; `null` is none.
pub fn provider_ids() -> Array {
    nullable_list(provider_id()).build()
}

/// A SHA-256 in 64 hex digits, either case, surrounding whitespace aside.
pub fn sha256() -> Object {
    string()
        .pattern(Some(format!("^[{SPACE}]*[0-9A-Fa-f]{{64}}[{SPACE}]*$")))
        .build()
}

/// Evidence: up to 100 SHA-256s; `null` is none.
pub fn evidence() -> Array {
    nullable_list(sha256())
        .max_items(Some(MAX_DOCUMENTS))
        .description(Some(
            "SHA-256 of each evidence document, 64 hex characters.",
        ))
        .build()
}

/// A unified social credit code as records take it: 18 characters of its alphabet in either
/// case, surrounding whitespace aside. A wrong check character is accepted and flagged.
pub fn uscc() -> ObjectBuilder {
    string().pattern(Some(format!(
        "^[{SPACE}]*[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{{18}}[{SPACE}]*$"
    )))
}

/// A required credit code of a record.
pub fn record_uscc() -> Object {
    uscc().examples(["91110108551385082Q"]).build()
}

/// A credit code whose check character must be right (`format: uscc`), or `null`.
pub fn strict_uscc() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(SchemaFormat::Custom("uscc".into())))
        .description(Some(
            "Unified social credit code: 18 characters of 0-9 and A-Y without I, O, S, V, Z (either case, surrounding whitespace aside); its check character (the 18th) must be right.",
        ))
        .examples(["91110108551385082Q"])
        .build()
}

/// An ICP recordal number in any of the forms footers carry (`format: icp-number`).
pub fn icp_number() -> ObjectBuilder {
    string()
        .format(Some(SchemaFormat::Custom("icp-number".into())))
        .min_length(Some(1))
}

/// An optional ICP number (`null` is none).
pub fn optional_icp_number() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(SchemaFormat::Custom("icp-number".into())))
        .min_length(Some(1))
        .examples(["京ICP备13025326号-2"])
        .build()
}

/// A document's name in a path: the SHA-256 of its bytes, 64 hexadecimal characters in
/// either case.
pub fn document_digest() -> Object {
    string().pattern(Some("^[0-9A-Fa-f]{64}$")).build()
}

/// A SHA-256 as answers give it: 64 lower-case hexadecimal characters.
pub fn stored_digest() -> Object {
    string().pattern(Some("^[0-9a-f]{64}$")).build()
}

/// The media type of an uploaded document.
pub fn document_type() -> Object {
    enumeration(DocumentType::ALL.map(DocumentType::as_str)).build()
}

/// The kind of record that names a document.
pub fn reference_kind() -> Object {
    enumeration(["entry", "case", "referral"]).build()
}

/// A document's bytes, the raw body of an upload and of a download. That they start as
/// their media type says (`%PDF-`, the PNG signature, a JPEG's start of image) is in words:
/// JSON Schema does not judge bytes.
pub fn document_bytes() -> Object {
    string()
        .format(Some(SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Binary,
        )))
        .description(Some(
            "The file's own bytes, starting as its Content-Type says: `%PDF-` for application/pdf, the PNG signature for image/png, FF D8 FF for image/jpeg.",
        ))
        .build()
}

/// A document's date, `YYYY-MM-DD`, from `documents.earliest_date` (2000-01-01 by default) to
/// today in China; the bounds depend on the day and the settings, so only the shape is here.
fn document_date() -> Object {
    string()
        .format(Some(SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Date,
        )))
        .description(Some(
            "YYYY-MM-DD, not before documents.earliest_date (2000-01-01 by default) nor after today in China (UTC+8).",
        ))
        .examples(["2024-05-01"])
        .build()
}

/// A penalty decision, a lifting document or a letter: number, authority, date and an
/// optional SHA-256 of the signed document.
fn document_object() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("number", document_line())
        .required("number")
        .property("authority", document_line())
        .required("authority")
        .property("date", document_date())
        .required("date")
        .property(
            "document_sha256",
            nullable_string().pattern(Some("^[0-9A-Fa-f]{64}$")).build(),
        )
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
        ))
}

/// A required decision, document or letter.
pub fn document() -> Object {
    document_object()
        .examples([serde_json::json!({
            "number": "京市监处罚〔2024〕123号",
            "authority": "北京市市场监督管理局",
            "date": "2024-05-01"
        })])
        .build()
}

/// A webhook URL: `http` or `https` with a host and no credentials, at most 2,000 bytes.
fn url(base: ObjectBuilder, description: &str) -> Object {
    base.format(Some(SchemaFormat::Custom("uri".into())))
        .max_length(Some(MAX_URL))
        .pattern(Some(r"^[Hh][Tt][Tt][Pp][Ss]?://[^@/?#]+([/?#][\s\S]*)?$"))
        .description(Some(description))
        .build()
}

/// A provider's webhook URL; `null` is none.
pub fn webhook_url() -> Object {
    url(
        nullable_string(),
        "Where notices are pushed (`http` or `https`, no credentials); `null` for pull only.",
    )
}

/// An organisation's inbox webhook URL.
pub fn inbox_webhook_url() -> Object {
    url(
        string(),
        "Where new inbox items are announced (`http` or `https`, no credentials).",
    )
}

/// Address ranges (CIDR, IPv4 and IPv6, host bits clear) of an access provider.
pub fn ranges() -> Array {
    let cidr = string()
        .format(Some(SchemaFormat::Custom("cidr".into())))
        .build();
    list(cidr, MAX_ITEMS)
        .examples([serde_json::json!(["203.0.113.0/24", "2001:db8::/32"])])
        .build()
}

/// The body of `POST /v1/providers`, one of two shapes by `kind`: an access provider with
/// address ranges, or a DNS provider with name-server suffixes. The other kind's list may
/// only be empty.
pub fn provider_request(update: bool) -> RefOr<Schema> {
    let branch = |kind: ProviderKind| {
        let (own, other) = match kind {
            ProviderKind::Access => ("ranges", "nameservers"),
            ProviderKind::Dns => ("nameservers", "ranges"),
        };
        let own_schema: Array = match kind {
            ProviderKind::Access => ranges(),
            ProviderKind::Dns => nameservers(),
        };
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some(match kind {
                ProviderKind::Access => "AccessProvider",
                ProviderKind::Dns => "DnsProvider",
            }))
            .property(
                "name",
                if update {
                    optional_display_name()
                } else {
                    display_name()
                },
            )
            .property(
                "kind",
                if update {
                    nullable_string().enum_values(Some([Some(kind.as_str()), None]))
                } else {
                    enumeration([kind.as_str()])
                }
                .description(Some("`access` or `dns`; cannot change after creation.")),
            )
            .property("province", optional_province())
            .property(own, own_schema)
            .property(
                other,
                nullable_list(string().build())
                    .max_items(Some(0))
                    .description(Some("The other kind's list: empty or `null` only."))
                    .build(),
            )
            .property("webhook_url", webhook_url())
            .property(
                "rotate_secret",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some(
                        "On update: issue a new webhook secret (shown in this answer only).",
                    )),
            )
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ));
        if !update {
            object = object.required("name").required("kind");
        }
        object.build()
    };
    if update {
        // The stored provider's kind decides which list it may have; a body without `kind`
        // and without lists fits either.
        AnyOfBuilder::new()
            .item(branch(ProviderKind::Access))
            .item(branch(ProviderKind::Dns))
            .description(Some(
                "The fields given replace the stored ones; `kind`, when given, must be the provider's.",
            ))
            .into()
    } else {
        OneOfBuilder::new()
            .item(branch(ProviderKind::Access))
            .item(branch(ProviderKind::Dns))
            .description(Some(
                "An access provider (`kind: access`, with `ranges`) or a DNS provider (`kind: dns`, with `nameservers`).",
            ))
            .into()
    }
}

/// The `status` filter of `GET /v1/entries`.
pub fn entry_status() -> Object {
    enumeration(["active", "lifted", "pending", "pending_lift"]).build()
}

/// The `status` filter of `GET /v1/notices`.
pub fn notice_status() -> Object {
    enumeration(["pending", "delivered", "acknowledged", "overdue"]).build()
}

/// The `state` filter of `GET /v1/cases`.
pub fn case_state() -> Object {
    enumeration(["referred", "held", "closed", "withdrawn"]).build()
}

/// The `format` of `GET /v1/snapshot`.
pub fn snapshot_format() -> Object {
    enumeration(["json", "text"]).build()
}

/// A notice cursor: empty, or the id of the last notice of the previous page.
pub fn notice_cursor() -> Object {
    string()
        .pattern(Some(
            "^([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})?$",
        ))
        .build()
}

/// A feed or audit sequence number: 0 to 2^64 - 1.
pub fn sequence() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::Custom("uint64".into())))
        .minimum(Some(0))
        .maximum(Some(u64::MAX as usize))
        .build()
}

/// The body of `POST /v1/keys`, one of three shapes: a key of a provider role names its
/// provider (`provider_id`, of the matching kind: `access-provider-id`, `dns-provider-id`), a
/// key of any other role names none.
pub fn key_request() -> RefOr<Schema> {
    let branch = |title: &str, roles: &[Role], provider: Option<&str>| {
        let object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some(title))
            .property("name", display_name())
            .required("name")
            .property(
                "role",
                enumeration(roles.iter().map(|r| r.as_str())).build(),
            )
            .required("role")
            .property("province", optional_province())
            .property(
                "expires_at",
                nullable_string()
                    .format(Some(SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::DateTime,
                    )))
                    .description(Some(
                        "RFC 3339 time after which the token stops working: in the future, and within auth.key_max_days when that is set.",
                    )),
            )
            .additional_properties(additional_false());
        match provider {
            Some(format) => object
                .property(
                    "provider_id",
                    string()
                        .format(Some(SchemaFormat::Custom(format.into())))
                        .description(Some(
                            "The registered provider the key speaks for, of the role's kind.",
                        )),
                )
                .required("provider_id"),
            None => object.property(
                "provider_id",
                ObjectBuilder::new()
                    .schema_type(Type::Null)
                    .description(Some("Only provider keys name a provider.")),
            ),
        }
        .build()
    };
    let providers = [Role::AccessProvider, Role::DnsProvider];
    let others: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| !providers.contains(r))
        .collect();
    OneOfBuilder::new()
        .item(branch("Key", &others, None))
        .item(branch(
            "AccessProviderKey",
            &[Role::AccessProvider],
            Some("access-provider-id"),
        ))
        .item(branch(
            "DnsProviderKey",
            &[Role::DnsProvider],
            Some("dns-provider-id"),
        ))
        .into()
}

/// A record's status: one of `values`, surrounding whitespace aside; empty, blank or `null`
/// is `active`.
fn record_status(values: &[&str]) -> Object {
    nullable_string()
        .pattern(Some(format!(
            "^[{SPACE}]*({})?[{SPACE}]*$",
            values.join("|")
        )))
        .description(Some(format!(
            "`{}`; `active` when empty or absent.",
            values.join("`, `")
        )))
        .examples(["active"])
        .build()
}

fn additional_false() -> Option<utoipa::openapi::schema::AdditionalProperties<Schema>> {
    Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(
        false,
    ))
}

/// A registration as `PUT /v1/registrations/{uscc}` takes it, or (`line`) as a line of an
/// import, which names its code.
pub fn registration(line: bool) -> RefOr<Schema> {
    let uscc_field = if line {
        record_uscc()
    } else {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .pattern(Some(format!(
                "^[{SPACE}]*[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{{18}}[{SPACE}]*$"
            )))
            .description(Some(
                "The unified social credit code; may be left out (the path names it), and when given must be the path's.",
            ))
            .build()
    };
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("uscc", uscc_field)
        .property("name", record_line())
        .required("name")
        .property(
            "status",
            record_status(&["active", "revoked", "cancelled", "moved_out"]),
        )
        .property("legal_representative", optional_record_line())
        .property("address", optional_record_line())
        .property("registered_province", record_province())
        .additional_properties(additional_false());
    if line {
        object = object.required("uscc");
    }
    object.build().into()
}

/// A recordal as `PUT /v1/recordals/{icp_number}` takes it, or (`line`) as a line of an
/// import, which names its ICP number.
pub fn recordal(line: bool) -> RefOr<Schema> {
    let icp = if line {
        icp_number().examples(["京ICP备13025326号-2"]).build()
    } else {
        optional_icp_number()
    };
    let codes: Vec<&str> = Province::ALL.iter().map(|p| p.code()).collect();
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("icp_number", icp)
        .property("sponsor_name", record_line())
        .required("sponsor_name")
        .property("sponsor_code", record_uscc())
        .required("sponsor_code")
        .property(
            "domains",
            ArrayBuilder::new()
                .items(listable_domain())
                .min_items(Some(1))
                .max_items(Some(crate::records::MAX_DOMAINS))
                .description(Some(
                    "1 to 100 names (JSON: an array; CSV: names separated by `;`, `|` or spaces); a public suffix is refused.",
                )),
        )
        .required("domains")
        .property("access_provider", record_line())
        .required("access_provider")
        .property(
            "access_province",
            string()
                .pattern(Some(format!(
                    "^[{SPACE}]*({})[{SPACE}]*$",
                    codes.join("|")
                )))
                .examples(["11"]),
        )
        .required("access_province")
        .property("status", record_status(&["active", "cancelled"]))
        .additional_properties(additional_false());
    if line {
        object = object.required("icp_number");
    }
    object.build().into()
}

/// The documents of a referral or an answer: up to 100, each with a number (one line of up to
/// 200 characters) or a SHA-256, or both, and an optional kind of up to 64 characters;
/// `null` is none.
pub fn documents() -> Array {
    let has_number = ObjectBuilder::new()
        .property("number", string().pattern(Some(format!("[^{SPACE}]"))))
        .required("number")
        .build();
    let has_sha256 = ObjectBuilder::new()
        .property("sha256", string())
        .required("sha256")
        .build();
    let document = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("kind", optional_text(64))
        .property("number", optional_text(MAX_NAME))
        .property(
            "sha256",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .pattern(Some(format!("^[{SPACE}]*[0-9A-Fa-f]{{64}}[{SPACE}]*$"))),
        )
        .additional_properties(additional_false())
        .build();
    let document = utoipa::openapi::schema::AllOfBuilder::new()
        .item(document)
        .item(AnyOfBuilder::new().item(has_number).item(has_sha256));
    nullable_list(document)
        .max_items(Some(MAX_DOCUMENTS))
        .build()
}

/// The body of `POST /v1/cases`, one of two shapes by `recorded`: a recorded site names its
/// ICP number (and, if it names a recordal province, the province of that number's prefix,
/// which JSON Schema cannot compare); a site without a recordal names neither.
pub fn case_request() -> RefOr<Schema> {
    let null = || ObjectBuilder::new().schema_type(Type::Null).build();
    let branch = |recorded: bool| {
        let object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some(if recorded {
                "RecordedSite"
            } else {
                "UnrecordedSite"
            }))
            .property("domain", listable_domain())
            .required("domain")
            .property(
                "recorded",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .enum_values(Some([recorded]))
                    .description(Some("Whether the site has an ICP recordal.")),
            )
            .required("recorded");
        let object = if recorded {
            object
                .property("icp_number", icp_number().examples(["京ICP备13025326号-2"]))
                .required("icp_number")
                .property(
                    "recordal_province",
                    ObjectBuilder::new()
                        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                        .enum_values(Some(
                            Province::ALL
                                .iter()
                                .map(|p| Some(p.code()))
                                .chain([None]),
                        ))
                        .description(Some(
                            "GB/T 2260 code of the recordal province: that of the ICP number's prefix; taken from it when absent.",
                        )),
                )
        } else {
            object
                .property("icp_number", null())
                .property("recordal_province", null())
        };
        object
            .property(
                "access_province",
                province().description(Some(
                    "GB/T 2260 code of the province where the site is connected.",
                )),
            )
            .required("access_province")
            .property("operator_name", operator_name())
            .property("operator_credit_code", strict_uscc())
            .property("category", category())
            .required("category")
            .property("summary", summary())
            .required("summary")
            .property("evidence", evidence())
            .additional_properties(additional_false())
            .build()
    };
    OneOfBuilder::new()
        .item(branch(true))
        .item(branch(false))
        .into()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Whether `text` is what a JSON Schema `pattern` (unanchored, as JSON Schema has it)
    /// accepts.
    fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .is_match(text)
    }

    /// Characters at the edges of the rules: whitespace that `trim` removes (some of it
    /// control characters), control characters it keeps, characters that look blank but are
    /// neither, and plain ones.
    const CHARS: &[char] = &[
        'a', '中', 'é', ' ', '\t', '\n', '\r', '\u{0b}', '\u{85}', '\u{a0}', '\u{2028}',
        '\u{3000}', '\u{0}', '\u{1c}', '\u{1f}', '\u{7f}', '\u{9f}', '\u{200b}', '\u{feff}',
        '\u{180e}',
    ];

    fn text() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop::sample::select(CHARS), 0..7),
            prop::sample::select(&[1usize, 1, 1, 33, 34, 40][..]),
        )
            .prop_map(|(chars, times)| chars.iter().collect::<String>().repeat(times))
    }

    fn pattern(schema: Object) -> String {
        schema.pattern.expect("a pattern")
    }

    proptest! {
        #[test]
        fn a_display_name_pattern_agrees_with_the_handler(text in text()) {
            let accepted = crate::api::display_name(Some(text.clone())).is_ok();
            prop_assert_eq!(matches(&pattern(display_name()), &text), accepted, "{:?}", text);
            let blank = text.trim().is_empty();
            prop_assert_eq!(
                matches(&pattern(optional_record_line()), &text),
                accepted || blank,
                "{:?}", text
            );
        }

        #[test]
        fn text_patterns_agree_with_the_handlers(text in text(), max in 1usize..6) {
            let required = crate::api::cases::text(Some(text.clone()), "f", "c", max).is_ok();
            prop_assert_eq!(matches(&pattern(required_text(max)), &text), required, "{:?}", text);
            let trimmed = crate::api::trimmed(Some(text.clone()));
            let optional = crate::api::at_most(trimmed.as_deref(), max, "c", String::new).is_ok();
            prop_assert_eq!(
                matches(&pattern(optional_text(max).build()), &text),
                optional,
                "{:?}", text
            );
        }

        #[test]
        fn code_patterns_agree_with_the_parsers(
            pad in prop::collection::vec(prop::sample::select(CHARS), 0..3),
            code in "[0-9A-Za-z]{16,19}|[0-9a-fA-F]{63,65}",
        ) {
            let pad: String = pad.iter().collect();
            let text = format!("{pad}{code}{pad}");
            prop_assert_eq!(
                matches(&pattern(record_uscc()), &text),
                crate::domain::Uscc::parse(&text).is_ok(),
                "{:?}", text
            );
            prop_assert_eq!(
                matches(&pattern(sha256()), &text),
                crate::api::cases::sha256(&text, "f").is_ok(),
                "{:?}", text
            );
        }
    }

    #[test]
    fn enumerations_are_what_the_parsers_take() {
        let values = |schema: Object| -> Vec<String> {
            schema
                .enum_values
                .unwrap()
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        for code in values(category()) {
            assert!(Category::parse(&code).is_some(), "{code}");
        }
        for role in values(role()) {
            assert!(Role::parse(&role).is_some(), "{role}");
        }
        for to in values(organisation()) {
            assert!(Org::parse(&to).is_some(), "{to}");
        }
        for code in values(required_province()) {
            assert!(Province::parse(&code).is_ok(), "{code}");
        }
        assert_eq!(values(organisation()).len(), 2 + 2 * Province::ALL.len());
    }
}
