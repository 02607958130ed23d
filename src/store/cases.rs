//! The part of the store that keeps referral cases and referrals, implemented by both backends
//! (`embedded/cases.rs`, `redis/cases.rs`) as versioned documents in two folders. Every write
//! is a compare-and-set on the version, so two organisations acting on one case at once cannot
//! overwrite each other (the loser reads again). A case change that also changes the registry
//! (a suspension, a listing, an expiry) travels on the registry write instead
//! (`model::CaseWrite`, made by [`case_write`]), in the same transaction or script. Every
//! write also indexes the document hashes the record names (`store::documents`).

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::cases::Case;
use crate::cases::referral::Referral;
use crate::cases::subscription::{Announcement, OrgWebhook};
use crate::model::{CaseWrite, NamesDocuments, Session};

/// Which kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    Cases,
    Referrals,
    /// Organisations' inbox webhooks.
    OrgWebhooks,
    /// Announcements of inbox items.
    Announcements,
    /// Console sessions.
    Sessions,
}

/// Cases and referrals, typed.
#[async_trait]
pub trait CaseStore: Send + Sync {
    /// Writes the case if the stored version is still `expect` (0: none stored);
    /// `Refused::CaseChanged` otherwise.
    async fn put_case(&self, case: &Case, expect: u64) -> StoreResult<()>;

    async fn case(&self, id: Uuid) -> StoreResult<Option<Case>>;

    /// Every case, oldest first (ids are time-ordered).
    async fn cases(&self) -> StoreResult<Vec<Case>>;

    /// Writes the referral over version `expect`, as [`CaseStore::put_case`] does.
    async fn put_referral(&self, referral: &Referral, expect: u64) -> StoreResult<()>;

    async fn referral(&self, id: Uuid) -> StoreResult<Option<Referral>>;

    /// Every referral, oldest first.
    async fn referrals(&self) -> StoreResult<Vec<Referral>>;

    /// Writes an organisation's inbox webhook over version `expect`.
    async fn put_org_webhook(&self, webhook: &OrgWebhook, expect: u64) -> StoreResult<()>;

    async fn org_webhook(&self, id: Uuid) -> StoreResult<Option<OrgWebhook>>;

    /// Every organisation's inbox webhook, removed ones included.
    async fn org_webhooks(&self) -> StoreResult<Vec<OrgWebhook>>;

    /// Writes an announcement over version `expect`: the claim that lets one node send it.
    async fn put_announcement(&self, announcement: &Announcement, expect: u64) -> StoreResult<()>;

    async fn announcement(&self, id: Uuid) -> StoreResult<Option<Announcement>>;

    /// Writes a console session over version `expect`.
    async fn put_session(&self, session: &Session, expect: u64) -> StoreResult<()>;

    async fn session(&self, id: Uuid) -> StoreResult<Option<Session>>;

    /// Every console session, ended and idle ones included until they are deleted.
    async fn sessions(&self) -> StoreResult<Vec<Session>>;

    /// Deletes a console session; deleting one that is gone is not an error.
    async fn delete_session(&self, id: Uuid) -> StoreResult<()>;
}

/// What each backend keeps: opaque documents by folder and id, with a version.
#[async_trait]
pub(crate) trait Documents: Send + Sync {
    /// Writes the document if the stored version is still the one `write` expects;
    /// `Refused::CaseChanged` otherwise.
    async fn put_doc(&self, folder: Folder, write: CaseWrite) -> StoreResult<()>;

    async fn doc(&self, folder: Folder, id: Uuid) -> StoreResult<Option<Vec<u8>>>;

    /// Every document of the folder, in id order.
    async fn docs(&self, folder: Folder) -> StoreResult<Vec<Vec<u8>>>;

    /// Deletes the document, whatever its version.
    async fn delete_doc(&self, folder: Folder, id: Uuid) -> StoreResult<()>;
}

fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::corrupt(format!("encoding a case: {e}")))
}

fn decode<T: DeserializeOwned>(folder: Folder, doc: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(doc)
        .map_err(|e| StoreError::corrupt(format!("a stored {folder:?}: {e}")))
}

/// A kind of document: its folder and its id.
trait Document: Serialize + DeserializeOwned + Sync {
    const FOLDER: Folder;

    fn id(&self) -> Uuid;

    /// The hashes of the signed documents it names, for the document index.
    fn document_hashes(&self) -> Vec<String> {
        Vec::new()
    }

    /// The write of this document over the version `expect` that was read.
    fn write(&self, expect: u64) -> StoreResult<CaseWrite> {
        Ok(CaseWrite {
            id: self.id(),
            expect,
            doc: encode(self)?,
            documents: self.document_hashes(),
        })
    }
}

impl Document for Case {
    const FOLDER: Folder = Folder::Cases;

    fn id(&self) -> Uuid {
        self.id
    }

    fn document_hashes(&self) -> Vec<String> {
        NamesDocuments::document_hashes(self)
    }
}

impl Document for Referral {
    const FOLDER: Folder = Folder::Referrals;

    fn id(&self) -> Uuid {
        self.id
    }

    fn document_hashes(&self) -> Vec<String> {
        NamesDocuments::document_hashes(self)
    }
}

impl Document for OrgWebhook {
    const FOLDER: Folder = Folder::OrgWebhooks;

    fn id(&self) -> Uuid {
        OrgWebhook::id_of(self.org)
    }
}

impl Document for Session {
    const FOLDER: Folder = Folder::Sessions;

    fn id(&self) -> Uuid {
        self.id
    }
}

impl Document for Announcement {
    const FOLDER: Folder = Folder::Announcements;

    fn id(&self) -> Uuid {
        self.id
    }
}

/// The write of `case` over the version `expect` that was read, for a registry write to carry.
pub fn case_write(case: &Case, expect: u64) -> StoreResult<CaseWrite> {
    case.write(expect)
}

async fn put<D: Document>(store: &impl Documents, value: &D, expect: u64) -> StoreResult<()> {
    store.put_doc(D::FOLDER, value.write(expect)?).await
}

async fn get<D: Document>(store: &impl Documents, id: Uuid) -> StoreResult<Option<D>> {
    let doc = store.doc(D::FOLDER, id).await?;
    doc.map(|doc| decode(D::FOLDER, &doc)).transpose()
}

async fn all<D: Document>(store: &impl Documents) -> StoreResult<Vec<D>> {
    let docs = store.docs(D::FOLDER).await?;
    docs.iter().map(|doc| decode(D::FOLDER, doc)).collect()
}

#[async_trait]
impl<S: Documents> CaseStore for S {
    async fn put_case(&self, case: &Case, expect: u64) -> StoreResult<()> {
        put(self, case, expect).await
    }

    async fn case(&self, id: Uuid) -> StoreResult<Option<Case>> {
        get(self, id).await
    }

    async fn cases(&self) -> StoreResult<Vec<Case>> {
        all(self).await
    }

    async fn put_referral(&self, referral: &Referral, expect: u64) -> StoreResult<()> {
        put(self, referral, expect).await
    }

    async fn referral(&self, id: Uuid) -> StoreResult<Option<Referral>> {
        get(self, id).await
    }

    async fn referrals(&self) -> StoreResult<Vec<Referral>> {
        all(self).await
    }

    async fn put_org_webhook(&self, webhook: &OrgWebhook, expect: u64) -> StoreResult<()> {
        put(self, webhook, expect).await
    }

    async fn org_webhook(&self, id: Uuid) -> StoreResult<Option<OrgWebhook>> {
        get(self, id).await
    }

    async fn org_webhooks(&self) -> StoreResult<Vec<OrgWebhook>> {
        all(self).await
    }

    async fn put_announcement(&self, announcement: &Announcement, expect: u64) -> StoreResult<()> {
        put(self, announcement, expect).await
    }

    async fn announcement(&self, id: Uuid) -> StoreResult<Option<Announcement>> {
        get(self, id).await
    }

    async fn put_session(&self, session: &Session, expect: u64) -> StoreResult<()> {
        put(self, session, expect).await
    }

    async fn session(&self, id: Uuid) -> StoreResult<Option<Session>> {
        get(self, id).await
    }

    async fn sessions(&self) -> StoreResult<Vec<Session>> {
        all(self).await
    }

    async fn delete_session(&self, id: Uuid) -> StoreResult<()> {
        self.delete_doc(Folder::Sessions, id).await
    }
}
