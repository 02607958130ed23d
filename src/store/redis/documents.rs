//! Uploaded documents in the Redis store: one hash per document (`meta`, `content`) under the
//! SHA-256 of its bytes, written once by a script that checks for it first, and the document
//! index, a sorted set of `store::documents::ref_row`s with score 0 read by lexicographic
//! range. The entry, case and referral scripts add to the index (`scripts::add_refs`); the
//! keys are `keys.rs`'s.

use std::collections::HashSet;

use async_trait::async_trait;
use redis::Script;
use uuid::Uuid;

use super::keys::Keys;
use super::scripts::{ALREADY_STORED, Lua, WRITTEN, outcomes};
use super::{RedisStore, redis_err};
use crate::model::{DocumentMeta, Entry};
use crate::store::documents::{DocumentRef, DocumentStore, parse_ref_row, ref_range};
use crate::store::{StoreError, StoreResult};

/// Stores a document unless one is stored under its hash: metadata and bytes in one step.
///
/// KEYS: 1 the document hash.
///
/// ARGV: 1 metadata, 2 bytes.
///
/// Answers `{WRITTEN, metadata}` or `{ALREADY_STORED, the stored metadata}`.
pub(super) const PUT: Lua = Lua {
    keys: "document",
    argv: "meta content",
    outcomes: outcomes![WRITTEN, ALREADY_STORED],
    body: r#"
local stored = redis.call('HGET', document, 'meta')
if stored then return {ALREADY_STORED, stored} end
redis.call('HSET', document, 'meta', meta, 'content', content)
return {WRITTEN, meta}
"#,
};

pub(super) struct Scripts {
    put: Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts { put: PUT.script() }
    }
}

fn decode_meta(bytes: &[u8]) -> StoreResult<DocumentMeta> {
    serde_json::from_slice(bytes).map_err(StoreError::corrupt)
}

#[async_trait]
impl DocumentStore for RedisStore {
    async fn put_document(
        &self,
        meta: DocumentMeta,
        content: Vec<u8>,
    ) -> StoreResult<(DocumentMeta, bool)> {
        let doc = serde_json::to_vec(&meta).map_err(StoreError::corrupt)?;
        let (outcome, stored): (i64, Vec<u8>) = self
            .document_scripts
            .put
            .key(Keys::document(&meta.sha256))
            .arg(doc)
            .arg(content)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok((decode_meta(&stored)?, outcome == WRITTEN))
    }

    async fn document_meta(&self, sha256: &str) -> StoreResult<Option<DocumentMeta>> {
        let meta: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(Keys::document(sha256))
            .arg("meta")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        meta.as_deref().map(decode_meta).transpose()
    }

    async fn document(&self, sha256: &str) -> StoreResult<Option<(DocumentMeta, Vec<u8>)>> {
        let (meta, content): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(Keys::document(sha256))
            .arg("meta")
            .arg("content")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        match (meta, content) {
            (None, _) => Ok(None),
            (Some(meta), Some(content)) => Ok(Some((decode_meta(&meta)?, content))),
            (Some(_), None) => Err(StoreError::corrupt(format!(
                "document {sha256} without its bytes"
            ))),
        }
    }

    async fn uploaded(&self, hashes: Vec<String>) -> StoreResult<HashSet<String>> {
        if hashes.is_empty() {
            return Ok(HashSet::new());
        }
        let mut pipe = redis::pipe();
        for hash in &hashes {
            pipe.cmd("EXISTS").arg(Keys::document(hash));
        }
        let exists: Vec<bool> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(hashes
            .into_iter()
            .zip(exists)
            .filter_map(|(hash, exists)| exists.then_some(hash))
            .collect())
    }

    async fn document_refs(&self, sha256: &str) -> StoreResult<Vec<DocumentRef>> {
        let (from, to) = ref_range(sha256);
        let rows: Vec<String> = redis::cmd("ZRANGE")
            .arg(Keys::document_refs())
            .arg(format!("[{from}"))
            .arg(format!("({to}"))
            .arg("BYLEX")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        let mut refs = rows
            .iter()
            .map(|row| parse_ref_row(row))
            .collect::<StoreResult<Vec<_>>>()?;
        refs.sort_unstable();
        Ok(refs)
    }

    async fn entries_by_id(&self, ids: &[Uuid]) -> StoreResult<Vec<Entry>> {
        let ids: Vec<String> = ids.iter().map(|id| id.simple().to_string()).collect();
        self.read_entries(&ids).await
    }

    async fn add_document_refs(&self, rows: Vec<String>, complete: bool) -> StoreResult<()> {
        // One MULTI: the rows and the mark land together (one hash slot, so on Cluster too).
        let mut pipe = redis::pipe();
        pipe.atomic();
        if !rows.is_empty() {
            pipe.cmd("ZADD").arg(Keys::document_refs());
            for row in &rows {
                pipe.arg(0).arg(row);
            }
            pipe.ignore();
        }
        if complete {
            pipe.cmd("SET")
                .arg(Keys::document_refs_complete())
                .arg(1)
                .ignore();
        }
        if rows.is_empty() && !complete {
            return Ok(());
        }
        pipe.query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(redis_err)
    }

    async fn document_refs_complete(&self) -> StoreResult<bool> {
        self.marked(Keys::document_refs_complete()).await
    }
}
