//! Cases and referrals in the embedded store: one table per folder of id → (version,
//! document). A write is a compare-and-set inside one redb transaction, which also indexes
//! the document hashes the record names.

use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition};
use uuid::Uuid;

use super::{EmbeddedStore, db_err};
use crate::model::CaseWrite;
use crate::store::cases::{Documents, Folder};
use crate::store::documents::folder_rows;
use crate::store::{Refused, StoreResult};

const CASES: TableDefinition<u128, (u64, &[u8])> = TableDefinition::new("cases");
const REFERRALS: TableDefinition<u128, (u64, &[u8])> = TableDefinition::new("referrals");
const ORG_WEBHOOKS: TableDefinition<u128, (u64, &[u8])> = TableDefinition::new("org_webhooks");
const ANNOUNCEMENTS: TableDefinition<u128, (u64, &[u8])> = TableDefinition::new("announcements");
const SESSIONS: TableDefinition<u128, (u64, &[u8])> = TableDefinition::new("sessions");

fn table(folder: Folder) -> TableDefinition<'static, u128, (u64, &'static [u8])> {
    match folder {
        Folder::Cases => CASES,
        Folder::Referrals => REFERRALS,
        Folder::OrgWebhooks => ORG_WEBHOOKS,
        Folder::Announcements => ANNOUNCEMENTS,
        Folder::Sessions => SESSIONS,
    }
}

/// Writes `write` into `folder` inside an open transaction, refusing when the stored version
/// is not the one expected.
fn put(txn: &redb::WriteTransaction, folder: Folder, write: &CaseWrite) -> StoreResult<()> {
    let mut records = txn.open_table(table(folder)).map_err(db_err)?;
    let id = write.id.as_u128();
    let stored = records.get(id).map_err(db_err)?.map_or(0, |v| v.value().0);
    if stored != write.expect {
        return Err(Refused::CaseChanged.into());
    }
    records
        .insert(id, (write.expect + 1, write.doc.as_slice()))
        .map_err(db_err)?;
    let rows = folder_rows(folder, write);
    super::documents::add_refs(txn, &rows)
}

pub(super) fn create_tables(txn: &redb::WriteTransaction) -> StoreResult<()> {
    create_tables!(txn; CASES, REFERRALS, ORG_WEBHOOKS, ANNOUNCEMENTS, SESSIONS);
    Ok(())
}

/// The case write carried by a registry change, in that change's transaction.
pub(super) fn write_case(txn: &redb::WriteTransaction, write: &CaseWrite) -> StoreResult<()> {
    put(txn, Folder::Cases, write)
}

#[async_trait]
impl Documents for EmbeddedStore {
    async fn put_doc(&self, folder: Folder, write: CaseWrite) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            put(&txn, folder, &write)?;
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn doc(&self, folder: Folder, id: Uuid) -> StoreResult<Option<Vec<u8>>> {
        self.reading(move |txn| {
            let records = txn.open_table(table(folder)).map_err(db_err)?;
            Ok(records
                .get(id.as_u128())
                .map_err(db_err)?
                .map(|v| v.value().1.to_vec()))
        })
        .await
    }

    async fn docs(&self, folder: Folder) -> StoreResult<Vec<Vec<u8>>> {
        self.reading(move |txn| {
            let records = txn.open_table(table(folder)).map_err(db_err)?;
            records
                .iter()
                .map_err(db_err)?
                .map(|row| row.map(|(_, v)| v.value().1.to_vec()).map_err(db_err))
                .collect()
        })
        .await
    }

    async fn delete_doc(&self, folder: Folder, id: Uuid) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            txn.open_table(table(folder))
                .map_err(db_err)?
                .remove(id.as_u128())
                .map_err(db_err)?;
            txn.commit().map_err(db_err)
        })
        .await
    }
}
