//! Uploaded documents in the embedded store: their metadata and their bytes in two tables
//! keyed by hash (reading a document's metadata never loads its bytes), and the index of the
//! records that name each hash, whose rows the writes of entries and cases add inside their
//! own transactions ([`add_refs`]).

use std::collections::HashSet;

use async_trait::async_trait;
use redb::TableDefinition;
use uuid::Uuid;

use super::{EmbeddedStore, db_err, encode, read_decoded, read_entry};
use crate::model::{DocumentMeta, Entry};
use crate::store::StoreResult;
use crate::store::documents::{DocumentRef, DocumentStore, parse_ref_row, ref_range};

/// SHA-256 → JSON of the document's metadata.
const DOCUMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("documents");
/// SHA-256 → the document's bytes.
const CONTENT: TableDefinition<&str, &[u8]> = TableDefinition::new("document_content");
/// `store::documents::ref_row` → (): which records name which hash.
const REFS: TableDefinition<&str, ()> = TableDefinition::new("document_refs");

pub(super) fn create_tables(txn: &redb::WriteTransaction) -> StoreResult<()> {
    txn.open_table(DOCUMENTS).map_err(db_err)?;
    txn.open_table(CONTENT).map_err(db_err)?;
    txn.open_table(REFS).map_err(db_err)?;
    Ok(())
}

/// Adds index rows inside the transaction of the write that names the documents.
pub(super) fn add_refs(txn: &redb::WriteTransaction, rows: &[String]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut refs = txn.open_table(REFS).map_err(db_err)?;
    for row in rows {
        refs.insert(row.as_str(), ()).map_err(db_err)?;
    }
    Ok(())
}

#[async_trait]
impl DocumentStore for EmbeddedStore {
    async fn put_document(
        &self,
        meta: DocumentMeta,
        content: Vec<u8>,
    ) -> StoreResult<(DocumentMeta, bool)> {
        self.blocking(move |db| {
            // redb runs one write transaction at a time: the check and the write cannot
            // interleave with another upload of the same bytes.
            let txn = db.begin_write().map_err(db_err)?;
            let stored = {
                let mut documents = txn.open_table(DOCUMENTS).map_err(db_err)?;
                if let Some(stored) =
                    read_decoded::<&str, DocumentMeta>(&documents, meta.sha256.as_str())?
                {
                    return Ok((stored, false));
                }
                documents
                    .insert(meta.sha256.as_str(), encode(&meta)?.as_slice())
                    .map_err(db_err)?;
                txn.open_table(CONTENT)
                    .map_err(db_err)?
                    .insert(meta.sha256.as_str(), content.as_slice())
                    .map_err(db_err)?;
                meta
            };
            txn.commit().map_err(db_err)?;
            Ok((stored, true))
        })
        .await
    }

    async fn document_meta(&self, sha256: &str) -> StoreResult<Option<DocumentMeta>> {
        let sha256 = sha256.to_owned();
        self.reading(move |txn| {
            read_decoded::<&str, DocumentMeta>(
                &txn.open_table(DOCUMENTS).map_err(db_err)?,
                sha256.as_str(),
            )
        })
        .await
    }

    async fn document(&self, sha256: &str) -> StoreResult<Option<(DocumentMeta, Vec<u8>)>> {
        let sha256 = sha256.to_owned();
        self.reading(move |txn| {
            let Some(meta) = read_decoded::<&str, DocumentMeta>(
                &txn.open_table(DOCUMENTS).map_err(db_err)?,
                sha256.as_str(),
            )?
            else {
                return Ok(None);
            };
            let content = txn.open_table(CONTENT).map_err(db_err)?;
            let bytes = content
                .get(sha256.as_str())
                .map_err(db_err)?
                .ok_or_else(|| {
                    crate::store::StoreError::corrupt(format!(
                        "document {sha256} without its bytes"
                    ))
                })?;
            Ok(Some((meta, bytes.value().to_vec())))
        })
        .await
    }

    async fn uploaded(&self, hashes: Vec<String>) -> StoreResult<HashSet<String>> {
        self.reading(move |txn| {
            let documents = txn.open_table(DOCUMENTS).map_err(db_err)?;
            let mut out = HashSet::new();
            for hash in hashes {
                if documents.get(hash.as_str()).map_err(db_err)?.is_some() {
                    out.insert(hash);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn document_refs(&self, sha256: &str) -> StoreResult<Vec<DocumentRef>> {
        let (from, to) = ref_range(sha256);
        self.reading(move |txn| {
            let refs = txn.open_table(REFS).map_err(db_err)?;
            let mut out = Vec::new();
            for row in refs.range(from.as_str()..to.as_str()).map_err(db_err)? {
                let (row, _) = row.map_err(db_err)?;
                out.push(parse_ref_row(row.value())?);
            }
            out.sort_unstable();
            Ok(out)
        })
        .await
    }

    async fn entries_by_id(&self, ids: &[Uuid]) -> StoreResult<Vec<Entry>> {
        let ids = ids.to_vec();
        self.reading(move |txn| {
            let entries = txn.open_table(super::ENTRIES).map_err(db_err)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.push(read_entry(&entries, id.as_u128())?);
            }
            Ok(out)
        })
        .await
    }

    async fn add_document_refs(&self, rows: Vec<String>, complete: bool) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            add_refs(&txn, &rows)?;
            if complete {
                txn.open_table(super::META)
                    .map_err(db_err)?
                    .insert(super::REFS_COMPLETE, 1)
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn document_refs_complete(&self) -> StoreResult<bool> {
        self.marked(super::REFS_COMPLETE).await
    }
}
