//! Cases and referrals in the Redis store: each record is a hash (`doc`, `ver`) under the
//! `{siteban}` hash tag, and each folder a set of ids (the keys are `keys.rs`'s). A write is
//! one script: compare the version, write the document, add the id to the folder and index
//! the document hashes the record names.

use async_trait::async_trait;
use redis::Script;
use uuid::Uuid;

use super::keys::Keys;
use super::scripts::{Lua, VERSION_MOVED, WRITTEN, add_refs, outcomes};
use super::{RedisStore, redis_err};
use crate::model::CaseWrite;
use crate::store::cases::{Documents, Folder};
use crate::store::documents::folder_rows;
use crate::store::{Refused, StoreError, StoreResult};

/// Compare-and-set of one record, indexing the document hashes it names.
///
/// KEYS: 1 the record hash, 2 the folder set, 3 the document index.
///
/// ARGV: 1 the version read ('0' when new), 2 document, 3 id, 4 the document index rows of
/// the record, separated by spaces.
///
/// Answers `WRITTEN`, or `VERSION_MOVED` when the version moved on.
pub(super) const PUT: Lua = Lua {
    keys: "record folder doc_refs",
    argv: "expected doc id refs",
    outcomes: outcomes![WRITTEN, VERSION_MOVED],
    body: concat!(
        r#"
if (redis.call('HGET', record, 'ver') or '0') ~= expected then return VERSION_MOVED end
redis.call('HSET', record, 'doc', doc, 'ver', tonumber(expected) + 1)
redis.call('SADD', folder, id)"#,
        add_refs!(),
        r#"
return WRITTEN
"#
    ),
};

pub(super) struct Scripts {
    put: Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts { put: PUT.script() }
    }
}

#[async_trait]
impl Documents for RedisStore {
    async fn put_doc(&self, folder: Folder, write: CaseWrite) -> StoreResult<()> {
        let refs = folder_rows(folder, &write);
        let written: i64 = self
            .case_scripts
            .put
            .key(Keys::record(folder, write.id))
            .key(Keys::folder(folder))
            .key(Keys::document_refs())
            .arg(write.expect)
            .arg(write.doc)
            .arg(write.id.simple().to_string())
            .arg(refs.join(" "))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        // VERSION_MOVED, the only other answer, wrote nothing.
        if written == WRITTEN {
            Ok(())
        } else {
            Err(Refused::CaseChanged.into())
        }
    }

    async fn doc(&self, folder: Folder, id: Uuid) -> StoreResult<Option<Vec<u8>>> {
        redis::cmd("HGET")
            .arg(Keys::record(folder, id))
            .arg("doc")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)
    }

    async fn docs(&self, folder: Folder) -> StoreResult<Vec<Vec<u8>>> {
        let mut conn = self.conn.clone();
        let mut ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(Keys::folder(folder))
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let mut pipe = redis::pipe();
            for id in chunk {
                let id = Uuid::parse_str(id).map_err(StoreError::corrupt)?;
                pipe.cmd("HGET").arg(Keys::record(folder, id)).arg("doc");
            }
            let docs: Vec<Option<Vec<u8>>> =
                pipe.query_async(&mut conn).await.map_err(redis_err)?;
            out.extend(docs.into_iter().flatten());
        }
        Ok(out)
    }

    async fn delete_doc(&self, folder: Folder, id: Uuid) -> StoreResult<()> {
        // MULTI: the record and its id in the folder go together.
        redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(Keys::record(folder, id))
            .ignore()
            .cmd("SREM")
            .arg(Keys::folder(folder))
            .arg(id.simple().to_string())
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(redis_err)
    }
}
