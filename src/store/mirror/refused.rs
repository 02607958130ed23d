//! What a mirror does not hold: providers, notices, shared records, documents, cases,
//! referrals and sessions live only in the registry's store. Each method answers
//! `StoreError::Mirror`; the API refuses such requests before they reach the store.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use uuid::Uuid;

use super::{MirrorStore, holds_no};
use crate::domain::{DomainName, IcpNumber, Uscc};
use crate::model::{CaseWrite, DocumentMeta, Entry, LiftRequest, LocateJob, NewEntry, Timestamp};
use crate::notices::model::{Notice, NoticeStatus, Provider, Restores};
use crate::records::{Recordal, Registration};
use crate::store::StoreResult;
use crate::store::cases::{Documents, Folder};
use crate::store::documents::{DocumentRef, DocumentStore};
use crate::store::notices::{
    LocateJobChange, LocateOutcome, NoticeChange, NoticePage, NoticePageQuery, NoticeStore,
    Recorded,
};
use crate::store::records::{PutCounts, RecordStore};

#[async_trait]
impl NoticeStore for MirrorStore {
    async fn put_provider(&self, _provider: Provider) -> StoreResult<()> {
        Err(holds_no("providers and notices"))
    }

    async fn delete_provider(&self, _id: &str) -> StoreResult<bool> {
        Err(holds_no("providers and notices"))
    }

    async fn providers(&self) -> StoreResult<Vec<Provider>> {
        Err(holds_no("providers and notices"))
    }

    async fn provider(&self, _id: &str) -> StoreResult<Option<Provider>> {
        Err(holds_no("providers and notices"))
    }

    async fn list_with_notices(
        &self,
        _entry: NewEntry,
        _notices: Vec<Notice>,
    ) -> StoreResult<Entry> {
        Err(holds_no("providers and notices"))
    }

    async fn approve_with_notices(
        &self,
        _approved: Entry,
        _notices: Vec<Notice>,
        _job: Option<LocateJob>,
    ) -> StoreResult<Entry> {
        Err(holds_no("providers and notices"))
    }

    async fn locate_due(&self, _now: Timestamp, _limit: usize) -> StoreResult<Vec<Uuid>> {
        Err(holds_no("providers and notices"))
    }

    async fn update_locate_job(
        &self,
        _id: Uuid,
        _change: LocateJobChange,
    ) -> StoreResult<Option<(LocateJob, bool)>> {
        Err(holds_no("providers and notices"))
    }

    async fn put_locate_job(&self, _job: LocateJob) -> StoreResult<bool> {
        Err(holds_no("providers and notices"))
    }

    async fn put_locate_jobs(&self, _jobs: Vec<LocateJob>, _complete: bool) -> StoreResult<usize> {
        Err(holds_no("providers and notices"))
    }

    async fn locate_jobs_complete(&self) -> StoreResult<bool> {
        Err(holds_no("providers and notices"))
    }

    async fn record_location(&self, _outcome: LocateOutcome) -> StoreResult<Recorded> {
        Err(holds_no("providers and notices"))
    }

    async fn locate_queue(&self, _now: Timestamp) -> StoreResult<(u64, Option<u64>)> {
        Err(holds_no("providers and notices"))
    }

    async fn lift_with_notices(
        &self,
        _request: LiftRequest,
        _restores: Restores,
    ) -> StoreResult<(Entry, Vec<Notice>)> {
        Err(holds_no("providers and notices"))
    }

    async fn notice(&self, _id: Uuid) -> StoreResult<Option<Notice>> {
        Err(holds_no("providers and notices"))
    }

    async fn update_notice(
        &self,
        _id: Uuid,
        _change: NoticeChange,
    ) -> StoreResult<Option<(Notice, bool)>> {
        Err(holds_no("providers and notices"))
    }

    async fn outbox_due(&self, _now: Timestamp, _limit: usize) -> StoreResult<Vec<Uuid>> {
        Err(holds_no("providers and notices"))
    }

    async fn deadlines_due(&self, _now: Timestamp, _limit: usize) -> StoreResult<Vec<Uuid>> {
        Err(holds_no("providers and notices"))
    }

    async fn provider_notices(&self, _query: NoticePageQuery) -> StoreResult<NoticePage> {
        Err(holds_no("providers and notices"))
    }

    async fn notice_counts(&self) -> StoreResult<BTreeMap<NoticeStatus, u64>> {
        Err(holds_no("providers and notices"))
    }

    async fn entry_notices(&self, _entry_id: Uuid) -> StoreResult<Vec<Notice>> {
        Err(holds_no("providers and notices"))
    }

    async fn add_entry_notice_rows(
        &self,
        _rows: Vec<(Uuid, Uuid)>,
        _complete: bool,
    ) -> StoreResult<()> {
        Err(holds_no("providers and notices"))
    }

    async fn entry_notices_complete(&self) -> StoreResult<bool> {
        Err(holds_no("providers and notices"))
    }
}

#[async_trait]
impl RecordStore for MirrorStore {
    async fn put_registrations(&self, _registrations: Vec<Registration>) -> StoreResult<PutCounts> {
        Err(holds_no("shared records"))
    }

    async fn registrations(&self, _codes: &[Uscc]) -> StoreResult<Vec<Option<Registration>>> {
        Err(holds_no("shared records"))
    }

    async fn put_recordals(&self, _recordals: Vec<Recordal>) -> StoreResult<PutCounts> {
        Err(holds_no("shared records"))
    }

    async fn recordals(&self, _numbers: &[IcpNumber]) -> StoreResult<Vec<Option<Recordal>>> {
        Err(holds_no("shared records"))
    }

    async fn recordals_by_domain(&self, _domain: &DomainName) -> StoreResult<Vec<Recordal>> {
        Err(holds_no("shared records"))
    }

    async fn recordals_by_sponsors(
        &self,
        _codes: &[Uscc],
    ) -> StoreResult<HashMap<Uscc, Vec<Recordal>>> {
        Err(holds_no("shared records"))
    }
}

#[async_trait]
impl DocumentStore for MirrorStore {
    async fn put_document(
        &self,
        _meta: DocumentMeta,
        _content: Vec<u8>,
    ) -> StoreResult<(DocumentMeta, bool)> {
        Err(holds_no("documents"))
    }

    async fn document_meta(&self, _sha256: &str) -> StoreResult<Option<DocumentMeta>> {
        Err(holds_no("documents"))
    }

    async fn document(&self, _sha256: &str) -> StoreResult<Option<(DocumentMeta, Vec<u8>)>> {
        Err(holds_no("documents"))
    }

    async fn uploaded(&self, _hashes: Vec<String>) -> StoreResult<HashSet<String>> {
        Err(holds_no("documents"))
    }

    async fn document_refs(&self, _sha256: &str) -> StoreResult<Vec<DocumentRef>> {
        Err(holds_no("documents"))
    }

    async fn entries_by_id(&self, _ids: &[Uuid]) -> StoreResult<Vec<Entry>> {
        Err(holds_no("documents"))
    }

    async fn add_document_refs(&self, _rows: Vec<String>, _complete: bool) -> StoreResult<()> {
        Err(holds_no("documents"))
    }

    async fn document_refs_complete(&self) -> StoreResult<bool> {
        Err(holds_no("documents"))
    }
}

#[async_trait]
impl Documents for MirrorStore {
    async fn put_doc(&self, _folder: Folder, _write: CaseWrite) -> StoreResult<()> {
        Err(holds_no("cases, referrals and sessions"))
    }

    async fn doc(&self, _folder: Folder, _id: Uuid) -> StoreResult<Option<Vec<u8>>> {
        Err(holds_no("cases, referrals and sessions"))
    }

    async fn docs(&self, _folder: Folder) -> StoreResult<Vec<Vec<u8>>> {
        Err(holds_no("cases, referrals and sessions"))
    }

    async fn delete_doc(&self, _folder: Folder, _id: Uuid) -> StoreResult<()> {
        Err(holds_no("cases, referrals and sessions"))
    }
}
