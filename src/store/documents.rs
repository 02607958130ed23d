//! The part of the store that keeps uploaded documents, implemented by both backends
//! (`embedded/documents.rs`, `redis/documents.rs`): each document once, under the SHA-256 of
//! its bytes, with its metadata; and the index of which records name which hash, written by
//! every write of an entry, a case or a referral in that write's own transaction or script.
//! The index only grows: entries, cases and referrals never drop a document they named. This
//! file owns the index's rows (`ref_row`), so that both backends write and read the same ones;
//! who may read a document is the registry's.

use std::collections::HashSet;

use async_trait::async_trait;
use uuid::Uuid;

use super::cases::Folder;
use super::{StoreError, StoreResult};
use crate::model::{DocumentMeta, Entry, NamesDocuments};

/// The kind of record a row of the index names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefKind {
    Entry,
    Case,
    Referral,
}

impl RefKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Entry => "entry",
            RefKind::Case => "case",
            RefKind::Referral => "referral",
        }
    }

    fn parse(text: &str) -> Option<RefKind> {
        Some(match text {
            "entry" => RefKind::Entry,
            "case" => RefKind::Case,
            "referral" => RefKind::Referral,
            _ => return None,
        })
    }

    /// The kind of the records of a folder of cases; none for the folders whose records
    /// name no document (inbox webhooks and announcements).
    pub fn of(folder: Folder) -> Option<RefKind> {
        match folder {
            Folder::Cases => Some(RefKind::Case),
            Folder::Referrals => Some(RefKind::Referral),
            Folder::OrgWebhooks | Folder::Announcements | Folder::Sessions => None,
        }
    }
}

/// A record that names a document hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentRef {
    pub kind: RefKind,
    pub id: Uuid,
}

/// Uploaded documents and the index of the records that name them.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// Stores `content` under `meta.sha256` with `meta`, unless a document is stored under
    /// that hash already: answers the stored metadata (the first upload's) and whether this
    /// call stored it. The check and the write are one atomic step, so two uploads of the
    /// same bytes at once store it once.
    async fn put_document(
        &self,
        meta: DocumentMeta,
        content: Vec<u8>,
    ) -> StoreResult<(DocumentMeta, bool)>;

    async fn document_meta(&self, sha256: &str) -> StoreResult<Option<DocumentMeta>>;

    /// The document's metadata and bytes, read together.
    async fn document(&self, sha256: &str) -> StoreResult<Option<(DocumentMeta, Vec<u8>)>>;

    /// Which of `hashes` name an uploaded document.
    async fn uploaded(&self, hashes: Vec<String>) -> StoreResult<HashSet<String>>;

    /// The records that name `sha256`, by kind and then id (ids are time-ordered).
    async fn document_refs(&self, sha256: &str) -> StoreResult<Vec<DocumentRef>>;

    /// The entries of `ids`, in the order given (the index names only entries that exist).
    async fn entries_by_id(&self, ids: &[Uuid]) -> StoreResult<Vec<Entry>>;

    /// Adds `rows` to the index (rows already there stay as they are) and, with `complete`,
    /// records that every record written before the index existed is indexed, in one atomic
    /// write.
    async fn add_document_refs(&self, rows: Vec<String>, complete: bool) -> StoreResult<()>;

    /// Whether the index is known to cover every record ([`DocumentStore::add_document_refs`]
    /// with `complete`).
    async fn document_refs_complete(&self) -> StoreResult<bool>;
}

/// The index row saying that the record `id` of `kind` names `sha256`. The hash comes first,
/// so the rows of one hash are one range ([`ref_range`]) in both backends' sorted keys.
pub(crate) fn ref_row(sha256: &str, kind: RefKind, id: Uuid) -> String {
    format!("{sha256}:{}:{}", kind.as_str(), id.simple())
}

/// The first row of `sha256` and the first string after its last one (`;` follows `:`).
pub(crate) fn ref_range(sha256: &str) -> (String, String) {
    (format!("{sha256}:"), format!("{sha256};"))
}

/// The record a row of the index names.
pub(crate) fn parse_ref_row(row: &str) -> StoreResult<DocumentRef> {
    let mut parts = row.split(':');
    let (Some(_), Some(kind), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(StoreError::corrupt(format!("document index row {row:?}")));
    };
    Ok(DocumentRef {
        kind: RefKind::parse(kind)
            .ok_or_else(|| StoreError::corrupt(format!("document index row {row:?}")))?,
        id: Uuid::parse_str(id).map_err(StoreError::corrupt)?,
    })
}

/// The index rows of every hash `record` names.
pub(crate) fn rows_of(record: &impl NamesDocuments, kind: RefKind, id: Uuid) -> Vec<String> {
    hash_rows(&record.document_hashes(), kind, id)
}

/// The index rows of `hashes` for the record `id` of `kind`.
pub(crate) fn hash_rows(hashes: &[String], kind: RefKind, id: Uuid) -> Vec<String> {
    hashes.iter().map(|h| ref_row(h, kind, id)).collect()
}

/// The index rows of the hashes a document of `folder` names.
pub(crate) fn folder_rows(folder: Folder, write: &crate::model::CaseWrite) -> Vec<String> {
    RefKind::of(folder).map_or_else(Vec::new, |kind| hash_rows(&write.documents, kind, write.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sort_by_hash_and_read_back() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let hash = "ab".repeat(32);
        let row = ref_row(&hash, RefKind::Case, id);
        assert_eq!(row, format!("{hash}:case:0123456789abcdef0123456789abcdef"));
        let (from, to) = ref_range(&hash);
        assert!(from.as_str() <= row.as_str() && row.as_str() < to.as_str());
        let other = ref_row(&"ac".repeat(32), RefKind::Entry, id);
        assert!(other.as_str() >= to.as_str());
        for kind in [RefKind::Entry, RefKind::Case, RefKind::Referral] {
            let row = ref_row(&hash, kind, id);
            assert_eq!(parse_ref_row(&row).unwrap(), DocumentRef { kind, id });
        }
        for wrong in [
            "",
            "abc",
            &format!("{hash}:note:{}", id.simple()),
            &format!("{row}:x"),
        ] {
            assert!(parse_ref_row(wrong).is_err(), "{wrong}");
        }
    }
}
