//! The follower of the Redis store: `Store::follow` as one `XREAD BLOCK` on the feed and the
//! key log at once, on a connection of its own. A multiplexed connection answers in order, so
//! a command queued behind a blocking read would wait for it, and redis-rs cuts every reply
//! short after its response timeout (500 ms by default), which a blocking read must outlast.
//! Decoding the events is left to `entries.rs`.

use std::time::Duration;

use redis::streams::{StreamRangeReply, StreamReadReply};
use tokio::sync::Mutex;

use super::conn::{Conn, Options, Target};
use super::entries::decode_event;
use super::keys::Keys;
use super::{RedisStore, redis_err};
use crate::store::{FollowBatch, FollowCursor, Store, StoreError, StoreResult, check_contiguous};

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
    /// something to arrive (`None` when nothing did), with what the feed holds at the
    /// cursor itself and the feed's head as they were before the wait.
    async fn read(
        &self,
        cursor: FollowCursor,
        block: Duration,
    ) -> StoreResult<(Option<StreamReadReply>, StreamRangeReply, Option<u64>)> {
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
        // One round trip: the event at the cursor and the head, read before the blocking read
        // (a server runs a connection's commands in order).
        let at = format!("{}-0", cursor.seq);
        let reply: redis::RedisResult<(StreamRangeReply, Option<u64>, Option<StreamReadReply>)> =
            redis::pipe()
                .cmd("XRANGE")
                .arg(Keys::feed())
                .arg(&at)
                .arg(&at)
                .cmd("GET")
                .arg(Keys::seq())
                .cmd("XREAD")
                .arg("COUNT")
                .arg(1000)
                .arg("BLOCK")
                .arg(block.as_millis().max(1) as u64)
                .arg("STREAMS")
                .arg(Keys::feed())
                .arg(Keys::keys_log())
                .arg(&at)
                .arg(format!("{}-0", cursor.keys_version))
                .query_async(conn)
                .await;
        match reply {
            Ok((at_cursor, head, reply)) => Ok((reply, at_cursor, head)),
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
        let (reply, at_cursor, head) = self.follower.read(cursor, block).await?;
        check_same_history(cursor, &at_cursor, head.unwrap_or(0))?;
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

/// Refuses to follow a feed that no longer holds the history this node applied. A failover
/// can lose events the old primary had not yet passed to its replica, events this node may
/// already have applied; the new primary then gives their numbers to new writes, which a
/// follower past those numbers would never see. So the event at the cursor must still be the
/// one applied (when it is known), and the head must not be behind the cursor.
fn check_same_history(
    cursor: FollowCursor,
    at_cursor: &StreamRangeReply,
    head: u64,
) -> StoreResult<()> {
    let diverged = head < cursor.seq
        || match (cursor.entry_at_seq, at_cursor.ids.first()) {
            (Some(applied), Some(event)) => decode_event(event)?.entry_id != applied,
            // Not known, or trimmed away by the retention: nothing to compare.
            _ => false,
        };
    if diverged {
        tracing::warn!(
            seq = cursor.seq,
            head,
            "the feed no longer holds the history this node applied (a failover lost events); reloading"
        );
        return Err(StoreError::SnapshotRequired { oldest: head + 1 });
    }
    Ok(())
}
