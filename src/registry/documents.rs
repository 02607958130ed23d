//! Signed documents: uploading one (its bytes must be what its type says; it is stored once
//! under their SHA-256), reading one back, who may (regulators, auditors and admins every
//! document; a provider's key only documents named by an entry its provider was sent notices
//! about, as `Registry::history_for` rules for entries), what names it, and the
//! `document_uploaded` flag beside every hash an answer shows.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Registry, RegistryError, RegistryResult};
use crate::auth::Principal;
use crate::domain::{DocumentType, DomainName, Role};
use crate::model::{DocumentMeta, Entry, NamesDocuments};
use crate::store::documents::{DocumentRef, RefKind, rows_of};
use crate::store::{EntryQuery, StatusFilter};

/// Most records `referenced_by` lists; the index itself has no bound.
pub const MAX_REFERENCES: usize = 1000;

/// Entries read at a time while looking for one a provider was told about.
const ENTRY_BATCH: usize = 500;

/// A stored document's metadata and the records that name it.
#[derive(Debug, Clone)]
pub struct DocumentInfo {
    pub meta: DocumentMeta,
    pub referenced_by: Vec<Reference>,
}

/// A record that names a document, and as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: RefKind,
    pub id: Uuid,
    /// The domain the entry or case is about (a referral may have none).
    pub domain: Option<DomainName>,
    /// What the record names the document as (`decision`, `lift.document`, a step
    /// document's kind such as `penalty_decision`).
    pub named_as: Vec<String>,
}

impl Reference {
    fn of(
        record: &impl NamesDocuments,
        kind: RefKind,
        id: Uuid,
        domain: Option<DomainName>,
        sha256: &str,
    ) -> Reference {
        Reference {
            kind,
            id,
            domain,
            named_as: record.names_as(sha256),
        }
    }
}

/// The digest a path names, in lower case; anything else names no document.
fn digest(sha256: &str) -> RegistryResult<String> {
    crate::domain::sha256_digest(sha256).ok_or_else(|| RegistryError::Absent {
        code: "document_not_found",
        message: "a document is named by the SHA-256 of its bytes, 64 hexadecimal characters"
            .into(),
    })
}

/// The provider a key speaks for, when it is a provider's key (`Some(None)` for one bound to
/// no provider); `None` for every other key, which may read every document.
fn provider_of(by: &Principal) -> Option<Option<&str>> {
    matches!(by.role, Role::AccessProvider | Role::DnsProvider).then_some(by.provider_id.as_deref())
}

impl Registry {
    /// Indexes the document hashes that records written before the index existed name, once
    /// per store: every entry, case and referral, in batches, then marks the index complete.
    /// Rows already there stay, and records written meanwhile index themselves, so nodes may
    /// run it together. Answers how many rows it wrote (0 when the index was complete).
    pub async fn index_named_documents(&self) -> RegistryResult<usize> {
        if self.store.document_refs_complete().await? {
            return Ok(0);
        }
        // Written page by page, so that a large registry is never held in memory at once.
        let mut written = 0;
        let mut after = 0;
        loop {
            let query = EntryQuery {
                filter: StatusFilter::All,
                after,
                limit: ENTRY_BATCH,
            };
            let (page, next) = self.store.entries(query).await?;
            written += self.index_rows(entry_rows(&page)).await?;
            match next {
                Some(next) => after = next,
                None => break,
            }
        }
        let pending = self.store.pending_entries(usize::MAX).await?;
        written += self.index_rows(entry_rows(&pending)).await?;
        let cases = self.store.cases().await?;
        let rows = cases.iter().flat_map(|c| rows_of(c, RefKind::Case, c.id));
        written += self.index_rows(rows.collect()).await?;
        let referrals = self.store.referrals().await?;
        let rows = referrals
            .iter()
            .flat_map(|r| rows_of(r, RefKind::Referral, r.id));
        written += self.index_rows(rows.collect()).await?;
        self.store.add_document_refs(Vec::new(), true).await?;
        Ok(written)
    }

    /// Adds `rows` to the document index in batches; answers how many.
    async fn index_rows(&self, rows: Vec<String>) -> RegistryResult<usize> {
        for batch in rows.chunks(ENTRY_BATCH) {
            self.store.add_document_refs(batch.to_vec(), false).await?;
        }
        Ok(rows.len())
    }
}

/// The index rows of the documents `entries` name.
fn entry_rows(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .flat_map(|e| rows_of(e, RefKind::Entry, e.id))
        .collect()
}

impl Registry {
    /// Stores `content`, declared as `kind`, once under its SHA-256: the stored document with
    /// the records that already name it, and whether this call stored it (a second upload of
    /// the same bytes keeps the first one's metadata).
    pub async fn upload_document(
        &self,
        by: &Principal,
        kind: DocumentType,
        content: Vec<u8>,
    ) -> RegistryResult<(DocumentInfo, bool)> {
        if !kind.matches(&content) {
            return Err(RegistryError::invalid(
                "document_type_mismatch",
                format!(
                    "the body does not start as a {kind} document does ({}): send the file's own bytes with its own Content-Type",
                    kind.signature_text()
                ),
            ));
        }
        let meta = DocumentMeta {
            sha256: hex::encode(Sha256::digest(&content)),
            content_type: kind,
            size: content.len() as u64,
            uploaded_by: by.actor(),
            uploaded_at: crate::model::now(),
        };
        let (meta, created) = self.store.put_document(meta, content).await?;
        if created {
            tracing::info!(sha256 = %meta.sha256, content_type = %meta.content_type, size = meta.size, by = %by.key_id, "document stored");
        }
        let refs = self.store.document_refs(&meta.sha256).await?;
        let referenced_by = self.references(&meta.sha256, &refs, false).await?;
        Ok((
            DocumentInfo {
                meta,
                referenced_by,
            },
            created,
        ))
    }

    /// The document named `sha256` with its bytes, if `by` may read it.
    pub async fn document(
        &self,
        by: &Principal,
        sha256: &str,
    ) -> RegistryResult<(DocumentMeta, Vec<u8>)> {
        let sha256 = digest(sha256)?;
        let known = match provider_of(by) {
            Some(provider) => Some(self.notified_refs(&sha256, provider).await?),
            None => None,
        };
        match self.store.document(&sha256).await? {
            Some(document) => Ok(document),
            None => Err(self.missing(&sha256, known).await?),
        }
    }

    /// The metadata of the document named `sha256` and the records that name it, if `by` may
    /// read it; a provider's key sees only the entries its provider was told about.
    pub async fn document_info(
        &self,
        by: &Principal,
        sha256: &str,
    ) -> RegistryResult<DocumentInfo> {
        let sha256 = digest(sha256)?;
        let provider = provider_of(by);
        let refs = match provider {
            Some(provider) => self.notified_refs(&sha256, provider).await?,
            None => self.store.document_refs(&sha256).await?,
        };
        let Some(meta) = self.store.document_meta(&sha256).await? else {
            return Err(self.missing(&sha256, Some(refs)).await?);
        };
        let referenced_by = self.references(&sha256, &refs, provider.is_some()).await?;
        Ok(DocumentInfo {
            meta,
            referenced_by,
        })
    }

    /// Sets `document_uploaded` beside every document hash `records` show, as the store has
    /// them now. A store failure here leaves the flags out and is logged, not answered: the
    /// answer may follow a write that took effect.
    pub(super) async fn mark_uploaded<T: NamesDocuments>(&self, records: &mut [T]) {
        let mut hashes: Vec<String> = records.iter().flat_map(|r| r.document_hashes()).collect();
        if hashes.is_empty() {
            return;
        }
        hashes.sort_unstable();
        hashes.dedup();
        match self.store.uploaded(hashes).await {
            Ok(uploaded) => {
                for record in records {
                    record.mark_uploaded(&|hash| uploaded.contains(hash));
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot tell which documents were uploaded"),
        }
    }

    /// `record` with its `document_uploaded` flags set ([`Registry::mark_uploaded`]).
    pub(super) async fn marked<T: NamesDocuments>(&self, mut record: T) -> T {
        self.mark_uploaded(std::slice::from_mut(&mut record)).await;
        record
    }

    /// The records naming `sha256` that a provider's key may know of: the entries its
    /// provider was sent notices about. None is `403 forbidden`, whether or not the document
    /// was uploaded, so that a provider learns nothing of documents it was never shown.
    async fn notified_refs(
        &self,
        sha256: &str,
        provider: Option<&str>,
    ) -> RegistryResult<Vec<DocumentRef>> {
        let refs = self.store.document_refs(sha256).await?;
        let ids: Vec<Uuid> = refs
            .iter()
            .filter(|r| r.kind == RefKind::Entry)
            .map(|r| r.id)
            .collect();
        let mut notified = Vec::new();
        if let Some(provider) = provider {
            for batch in ids.chunks(ENTRY_BATCH) {
                let entries = self.store.entries_by_id(batch).await?;
                notified.extend(
                    entries
                        .iter()
                        .filter(|e| e.providers.iter().any(|p| p == provider))
                        .map(|e| DocumentRef {
                            kind: RefKind::Entry,
                            id: e.id,
                        }),
                );
                if notified.len() >= MAX_REFERENCES {
                    break;
                }
            }
        }
        if notified.is_empty() {
            return Err(RegistryError::Forbidden(format!(
                "this key's provider was sent no notice about an entry naming document {sha256}"
            )));
        }
        Ok(notified)
    }

    /// Why a document that is not stored cannot be read: named by a record but never
    /// uploaded, or unknown. `known` are the records naming it, when already read.
    async fn missing(
        &self,
        sha256: &str,
        known: Option<Vec<DocumentRef>>,
    ) -> RegistryResult<RegistryError> {
        let refs = match known {
            Some(refs) => refs,
            None => self.store.document_refs(sha256).await?,
        };
        Ok(if refs.is_empty() {
            RegistryError::Absent {
                code: "document_not_found",
                message: format!("no document {sha256} was uploaded, and nothing names it"),
            }
        } else {
            RegistryError::Absent {
                code: "document_not_uploaded",
                message: format!(
                    "document {sha256} is named by {} record(s) but was never uploaded: POST /v1/documents with its bytes",
                    refs.len()
                ),
            }
        })
    }

    /// The first [`MAX_REFERENCES`] of `refs` as references to `sha256`; `entries_only` for
    /// a provider's key, which knows of no case or referral.
    async fn references(
        &self,
        sha256: &str,
        refs: &[DocumentRef],
        entries_only: bool,
    ) -> RegistryResult<Vec<Reference>> {
        let refs = &refs[..refs.len().min(MAX_REFERENCES)];
        let entry_ids: Vec<Uuid> = refs
            .iter()
            .filter(|r| r.kind == RefKind::Entry)
            .map(|r| r.id)
            .collect();
        let entries: Vec<Entry> = self.store.entries_by_id(&entry_ids).await?;
        let mut out: Vec<Reference> = entries
            .iter()
            .map(|e| Reference::of(e, RefKind::Entry, e.id, Some(e.domain.clone()), sha256))
            .collect();
        if entries_only {
            return Ok(out);
        }
        for r in refs {
            match r.kind {
                RefKind::Entry => {}
                RefKind::Case => {
                    if let Some(case) = self.store.case(r.id).await? {
                        out.push(Reference::of(
                            &case,
                            r.kind,
                            r.id,
                            Some(case.domain.clone()),
                            sha256,
                        ));
                    }
                }
                RefKind::Referral => {
                    if let Some(referral) = self.store.referral(r.id).await? {
                        let domain = referral.domain.clone();
                        out.push(Reference::of(&referral, r.kind, r.id, domain, sha256));
                    }
                }
            }
        }
        Ok(out)
    }
}
