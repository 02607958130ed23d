//! Cases and referrals in the Redis store: each record is a hash (`doc`, `ver`) under the
//! `{siteban}` hash tag, and each folder a set of ids. A write is one script: compare the
//! version, write the document, add the id to the folder.

use async_trait::async_trait;
use redis::Script;
use uuid::Uuid;

use super::{Keys, RedisStore, redis_err};
use crate::model::CaseWrite;
use crate::store::cases::{Documents, Folder};
use crate::store::{Refused, StoreError, StoreResult};

impl Keys {
    /// A case's hash; the list and lift scripts write it alongside an entry.
    pub(super) fn case(id: Uuid) -> String {
        Self::record(Folder::Cases, id)
    }
    fn record(folder: Folder, id: Uuid) -> String {
        let kind = match folder {
            Folder::Cases => "case",
            Folder::Referrals => "referral",
        };
        format!("{}:{kind}:{}", Self::TAG, id.simple())
    }
    fn folder(folder: Folder) -> String {
        Self::named(match folder {
            Folder::Cases => "cases",
            Folder::Referrals => "referrals",
        })
    }
}

/// Compare-and-set of one record. KEYS: the record hash, the folder set. ARGV: expected
/// version ('0' when new), document, id. Answers 0 when the version moved on.
const PUT_SCRIPT: &str = r#"
if (redis.call('HGET', KEYS[1], 'ver') or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'ver', tonumber(ARGV[1]) + 1)
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"#;

pub(super) struct Scripts {
    put: Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts {
            put: Script::new(PUT_SCRIPT),
        }
    }
}

#[async_trait]
impl Documents for RedisStore {
    async fn put_doc(
        &self,
        folder: Folder,
        id: Uuid,
        expect: u64,
        doc: Vec<u8>,
    ) -> StoreResult<()> {
        let write = CaseWrite { id, expect, doc };
        let written: i64 = self
            .case_scripts
            .put
            .key(Keys::record(folder, write.id))
            .key(Keys::folder(folder))
            .arg(write.expect)
            .arg(write.doc)
            .arg(write.id.simple().to_string())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        if written == 1 {
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
}
