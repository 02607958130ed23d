//! The follower of the Redis store: `Store::follow` as one `XREAD BLOCK` on the feed and the
//! key log at once, on a connection of its own. A multiplexed connection answers in order, so
//! a command queued behind a blocking read would wait for it, and redis-rs cuts every reply
//! short after its response timeout (500 ms by default), which a blocking read must outlast.
//! Decoding the events is left to `entries.rs`.

use std::time::Duration;

use redis::streams::StreamReadReply;
use tokio::sync::Mutex;

use super::conn::{Conn, Options, Target};
use super::entries::decode_event;
use super::keys::Keys;
use super::{RedisStore, redis_err};
use crate::store::{FollowBatch, FollowCursor, Store, StoreResult, check_contiguous};

/// The follower's connection, dialled on the first follow.
pub(super) struct Follower {
    target: Target,
    /// `None` until the first read, and again after a failed one, so the next read dials
    /// afresh. The lock also keeps one blocking read at a time on the connection.
    conn: Mutex<Option<Conn>>,
}

impl Follower {
    pub(super) fn new(target: Target) -> Follower {
        Follower {
            target,
            conn: Mutex::new(None),
        }
    }

    /// What the feed and the key log hold after `cursor`, waiting up to `block` for
    /// something to arrive (`None` when nothing did).
    async fn read(
        &self,
        cursor: FollowCursor,
        block: Duration,
    ) -> StoreResult<Option<StreamReadReply>> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            // Longer than the block, so a blocking read is never cut short, but bounded so
            // that a hung server is noticed. The follower only reads: no replica wait.
            let options = Options {
                timeout: Duration::from_secs(2),
                response_timeout: block + Duration::from_secs(5),
                ack: None,
            };
            let conn = Conn::connect(&self.target, options)
                .await
                .map_err(redis_err)?;
            *guard = Some(conn);
        }
        let conn = guard.as_mut().expect("connection set above");
        let reply: redis::RedisResult<Option<StreamReadReply>> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1000)
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(Keys::feed())
            .arg(Keys::keys_log())
            .arg(format!("{}-0", cursor.seq))
            .arg(format!("{}-0", cursor.keys_version))
            .query_async(conn)
            .await;
        match reply {
            Ok(reply) => Ok(reply),
            Err(e) => {
                // Drop the connection so the next call dials afresh.
                *guard = None;
                Err(redis_err(e))
            }
        }
    }
}

impl RedisStore {
    /// The body of `Store::follow`: the feed events after the cursor, and the whole key set
    /// when a key changed.
    pub(super) async fn follow_changes(
        &self,
        cursor: FollowCursor,
        block: Duration,
    ) -> StoreResult<FollowBatch> {
        let reply = self.follower.read(cursor, block).await?;
        let mut batch = FollowBatch {
            head: cursor.seq,
            ..FollowBatch::default()
        };
        let mut keys_changed = false;
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            if stream.key == Keys::feed() {
                batch.events = stream
                    .ids
                    .iter()
                    .map(decode_event)
                    .collect::<StoreResult<_>>()?;
                check_contiguous(cursor.seq, &batch.events, 0)?;
                batch.head = batch.events.last().map_or(cursor.seq, |e| e.seq);
            } else if !stream.ids.is_empty() {
                keys_changed = true;
            }
        }
        if keys_changed {
            batch.keys = Some(self.keys().await?);
        }
        Ok(batch)
    }
}
