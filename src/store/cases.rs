//! The part of the store that keeps referral cases and referrals, implemented by both backends
//! (`embedded/cases.rs`, `redis/cases.rs`). A record is an opaque document with a version:
//! every write is a compare-and-set on that version, so two organisations acting on one case
//! at once cannot overwrite each other (the loser reads again). A case change that also changes
//! the registry (a suspension, a listing, an expiry) travels on the registry write instead
//! (`model::CaseWrite`), in the same transaction or script.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreResult;
use crate::model::CaseWrite;

/// Which kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    Cases,
    Referrals,
}

#[async_trait]
pub trait CaseStore: Send + Sync {
    /// Writes the document if the stored version is still `write.expect` (0: none stored);
    /// `StoreError::CaseChanged` otherwise.
    async fn put_record(&self, folder: Folder, write: CaseWrite) -> StoreResult<()>;

    /// One document.
    async fn record(&self, folder: Folder, id: Uuid) -> StoreResult<Option<Vec<u8>>>;

    /// Every document of the folder, oldest first (ids are time-ordered).
    async fn records(&self, folder: Folder) -> StoreResult<Vec<Vec<u8>>>;
}
