//! `/v1/documents`: uploading a signed document (a PDF, PNG or JPEG, sent as the raw body),
//! downloading it by the SHA-256 of its bytes, and reading its metadata with the records that
//! name it. Who may read which document, and what an upload must be, is the registry's
//! (`registry::documents`).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use uuid::Uuid;

use super::{Answer, ApiError, Call, schema};
use crate::auth::policy;
use crate::domain::{DocumentType, DomainName};
use crate::model::{Actor, Timestamp};
use crate::registry::{DocumentInfo, Reference};

/// A document's bytes in the OpenAPI document ([`schema::document_bytes`]).
pub struct DocumentBytes;

schema::documented_as!(DocumentBytes => schema::document_bytes());

/// An uploaded document's metadata and the records that name it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DocumentView {
    /// SHA-256 of the bytes: the document's name.
    #[schema(schema_with = schema::stored_digest)]
    pub sha256: String,
    #[schema(schema_with = schema::document_type)]
    pub content_type: DocumentType,
    /// Length in bytes.
    pub size: u64,
    /// The key of the first upload; later uploads of the same bytes change nothing.
    pub uploaded_by: Actor,
    #[schema(value_type = String, format = DateTime)]
    pub uploaded_at: Timestamp,
    /// The entries, cases and referrals that name the document (at most 1,000); a provider's
    /// key sees only the entries its provider was sent notices about.
    pub referenced_by: Vec<ReferenceView>,
}

/// A record that names a document, and as what.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReferenceView {
    /// `entry`, `case` or `referral`.
    #[schema(schema_with = schema::reference_kind)]
    pub kind: &'static str,
    #[schema(value_type = String, format = "uuid")]
    pub id: Uuid,
    /// The domain the record is about; absent for a referral about none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub domain: Option<DomainName>,
    /// What the record names the document as: `decision` or `lift.document` for an entry,
    /// the document's kind in a case or referral step (`penalty_decision`,
    /// `recommendation_letter`, `suspension_letter`, `evidence`, `referral_document`, …).
    #[serde(rename = "as")]
    pub named_as: Vec<String>,
}

impl From<DocumentInfo> for DocumentView {
    fn from(info: DocumentInfo) -> DocumentView {
        let meta = info.meta;
        DocumentView {
            sha256: meta.sha256,
            content_type: meta.content_type,
            size: meta.size,
            uploaded_by: meta.uploaded_by,
            uploaded_at: meta.uploaded_at,
            referenced_by: info.referenced_by.into_iter().map(view).collect(),
        }
    }
}

fn view(reference: Reference) -> ReferenceView {
    ReferenceView {
        kind: reference.kind.as_str(),
        id: reference.id,
        domain: reference.domain,
        named_as: reference.named_as,
    }
}

/// Upload a signed document: a penalty decision, a lifting document, a letter or evidence,
/// as the file's own bytes. It is stored once under their SHA-256, which listings, lifts and
/// case steps name as `document_sha256` (or `sha256`); the same bytes again answer `200`
/// with the first upload's metadata.
#[utoipa::path(post, path = "/v1/documents", operation_id = "upload_document", tag = "documents",
    request_body(description = "The document's bytes, with its own Content-Type.",
        content((inline(DocumentBytes) = "application/pdf"), (inline(DocumentBytes) = "image/png"),
                (inline(DocumentBytes) = "image/jpeg"))),
    responses((status = 201, body = DocumentView, description = "stored",
                headers(("Location" = String, description = "/v1/documents/{sha256}"))),
              (status = 200, body = DocumentView, description = "the same bytes were stored before"),
              (status = 413, description = "payload_too_large: over documents.max_bytes"),
              (status = 415, description = "unsupported_media_type: not application/pdf, image/png or image/jpeg"),
              (status = 422, description = "document_type_mismatch: the bytes are not what the Content-Type says")),
    security(("bearer" = [])))]
pub async fn upload(call: Call, payload: web::Payload) -> Answer {
    let principal = call.require(policy::UPLOAD_DOCUMENTS)?;
    let declared = call
        .req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let kind = declared
        .as_deref()
        .and_then(DocumentType::of_content_type)
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(format!(
                "a document is uploaded as application/pdf, image/png or image/jpeg, not {}",
                declared.map_or("without a Content-Type".into(), |d| format!("{d:?}"))
            ))
        })?;
    let settings = &call.settings.documents;
    let body = super::read_body_within(
        &call.req,
        payload,
        settings.max_bytes,
        settings.upload_timeout_ms,
    )
    .await?;
    let (info, created) = call.upload_document(principal, kind, body.to_vec()).await?;
    let meta = &info.meta;
    let detail = if created {
        format!("stored {}, {} bytes", meta.content_type, meta.size)
    } else {
        format!(
            "already stored: first uploaded by {} at {}",
            meta.uploaded_by.key_id, meta.uploaded_at
        )
    };
    call.note(format!("sha256:{}", meta.sha256), detail);
    let location = format!("/v1/documents/{}", meta.sha256);
    let view = DocumentView::from(info);
    Ok(if created {
        HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Download a document by the SHA-256 of its bytes.
#[utoipa::path(get, path = "/v1/documents/{sha256}", operation_id = "get_document", tag = "documents",
    params(("sha256" = String, Path, pattern = "^[0-9A-Fa-f]{64}$", description = "the SHA-256 of the document's bytes")),
    responses((status = 200, description = "the document's bytes, with the Content-Type it was uploaded as",
                content((inline(DocumentBytes) = "application/pdf"), (inline(DocumentBytes) = "image/png"),
                        (inline(DocumentBytes) = "image/jpeg")),
                headers(("ETag" = String, description = "the SHA-256, quoted"),
                        ("Cache-Control" = String, description = "private, immutable"),
                        ("Content-Disposition" = String, description = "attachment, named <sha256>.<pdf|png|jpg>"))),
              (status = 304, description = "If-None-Match named the document's ETag"),
              (status = 403, description = "forbidden: a provider's key, for a document no entry its provider was told about names"),
              (status = 404, description = "document_not_uploaded: named by a record but never uploaded; document_not_found: unknown")),
    security(("bearer" = [])))]
pub async fn download(call: Call, path: web::Path<String>) -> Answer {
    let principal = call.require(policy::READ_DOCUMENTS)?;
    let (meta, content) = call.document(principal, &path).await?;
    let etag = format!("\"{}\"", meta.sha256);
    let cached = call
        .req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| matches!(t.trim(), "*") || t.trim().trim_start_matches("W/") == etag)
        });
    let mut response = if cached {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, immutable"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    if cached {
        return Ok(response.finish());
    }
    Ok(response
        .insert_header((header::CONTENT_TYPE, meta.content_type.as_str()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}.{}\"",
                meta.sha256,
                meta.content_type.extension()
            ),
        ))
        .body(content))
}

/// A document's metadata and the records that name it.
#[utoipa::path(get, path = "/v1/documents/{sha256}/meta", operation_id = "get_document_meta", tag = "documents",
    params(("sha256" = String, Path, pattern = "^[0-9A-Fa-f]{64}$", description = "the SHA-256 of the document's bytes")),
    responses((status = 200, body = DocumentView),
              (status = 403, description = "forbidden: a provider's key, for a document no entry its provider was told about names"),
              (status = 404, description = "document_not_uploaded: named by a record but never uploaded; document_not_found: unknown")),
    security(("bearer" = [])))]
pub async fn meta(call: Call, path: web::Path<String>) -> Answer {
    let principal = call.require(policy::READ_DOCUMENTS)?;
    let info = call.document_info(principal, &path).await?;
    Ok(HttpResponse::Ok().json(DocumentView::from(info)))
}
