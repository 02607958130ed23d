//! Group commit: listings and the workers' batches are written by one thread of the store's
//! own (at the priority of the thread that opened the store), and the writes that arrive while
//! it commits are written together next, in one transaction and one durable commit. A lone
//! write is written at once. Each write is answered only after the commit that holds it; when
//! one of a group is refused (or fails), the group's transaction is dropped, nothing of it
//! written, and each of them is written again alone, so a refusal never takes another write
//! with it.

use std::any::Any;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use redb::{Database, WriteTransaction};
use tokio::sync::oneshot;

use super::db_err;
use crate::store::{StoreError, StoreResult};

/// The most writes one commit takes.
const MAX_GROUP: usize = 256;

type Answer = Box<dyn Any + Send>;

/// One write in an open transaction; it may run twice (in a group, then alone), so it writes
/// only through the transaction it is given.
type Work = Box<dyn Fn(&WriteTransaction) -> StoreResult<Answer> + Send>;

struct Waiting {
    work: Work,
    answer: oneshot::Sender<StoreResult<Answer>>,
}

pub(super) struct Writer {
    queue: Option<mpsc::Sender<Waiting>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writing thread of `db`.
    pub(super) fn start(db: Arc<Database>) -> std::io::Result<Writer> {
        let (queue, waiting) = mpsc::channel::<Waiting>();
        let thread = std::thread::Builder::new()
            .name("siteban-writer".into())
            .spawn(move || {
                while let Ok(first) = waiting.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match waiting.try_recv() {
                            Ok(next) => group.push(next),
                            Err(_) => break,
                        }
                    }
                    write_group(&db, group);
                }
            })?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Writes `work` in the next commit and answers once that commit is durable.
    pub(super) async fn commit<T: Send + 'static>(
        &self,
        work: impl Fn(&WriteTransaction) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (answer, answered) = oneshot::channel();
        let work: Work = Box::new(move |txn| work(txn).map(|t| Box::new(t) as Answer));
        let stopped = || StoreError::unavailable("the store's writer has stopped");
        self.queue
            .as_ref()
            .ok_or_else(stopped)?
            .send(Waiting { work, answer })
            .map_err(|_| stopped())?;
        let answer = answered.await.map_err(|_| stopped())??;
        answer
            .downcast::<T>()
            .map(|t| *t)
            .map_err(|_| StoreError::corrupt("a write answered with another type"))
    }
}

impl Drop for Writer {
    /// Ends the thread once it has written what it holds, so that the database is closed when
    /// the store is.
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_group(db: &Database, group: Vec<Waiting>) {
    if group.len() > 1 {
        match write_all(db, &group) {
            Some(Ok(written)) => {
                for (waiting, one) in group.into_iter().zip(written) {
                    let _ = waiting.answer.send(Ok(one));
                }
                return;
            }
            Some(Err(message)) => {
                for waiting in group {
                    let _ = waiting
                        .answer
                        .send(Err(StoreError::Unavailable(message.clone())));
                }
                return;
            }
            // One was refused or failed: each is written alone below.
            None => {}
        }
    }
    for waiting in group {
        let _ = waiting.answer.send(write_one(db, &waiting.work));
    }
}

/// The whole group in one transaction: its answers, or the commit's failure (nothing written),
/// or `None` when a write failed before the commit (the transaction is dropped unwritten).
fn write_all(db: &Database, group: &[Waiting]) -> Option<Result<Vec<Answer>, String>> {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => return Some(Err(e.to_string())),
    };
    let mut written = Vec::with_capacity(group.len());
    for waiting in group {
        written.push((waiting.work)(&txn).ok()?);
    }
    Some(txn.commit().map(|()| written).map_err(|e| e.to_string()))
}

fn write_one(db: &Database, work: &Work) -> StoreResult<Answer> {
    let txn = db.begin_write().map_err(db_err)?;
    let written = work(&txn)?;
    txn.commit().map_err(db_err)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

    use super::*;

    const ROWS: TableDefinition<&str, u64> = TableDefinition::new("rows");

    /// Inserts `key` unless present (refused then), answering how many rows the table holds.
    fn insert(key: &'static str) -> impl Fn(&WriteTransaction) -> StoreResult<u64> + Send {
        move |txn| {
            let mut rows = txn.open_table(ROWS).map_err(db_err)?;
            if rows.get(key).map_err(db_err)?.is_some() {
                return Err(StoreError::unavailable(format!("{key} is there")));
            }
            rows.insert(key, 1).map_err(db_err)?;
            rows.len().map_err(db_err)
        }
    }

    fn waiting(key: &'static str) -> (Waiting, oneshot::Receiver<StoreResult<Answer>>) {
        let (answer, answered) = oneshot::channel();
        let work = insert(key);
        let work: Work = Box::new(move |txn| work(txn).map(|n| Box::new(n) as Answer));
        (Waiting { work, answer }, answered)
    }

    fn count(answered: oneshot::Receiver<StoreResult<Answer>>) -> StoreResult<u64> {
        answered
            .blocking_recv()
            .unwrap()
            .map(|n| *n.downcast::<u64>().unwrap())
    }

    fn rows(db: &Database) -> Vec<String> {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(ROWS).unwrap();
        table
            .iter()
            .unwrap()
            .map(|row| row.unwrap().0.value().to_string())
            .collect()
    }

    #[test]
    fn a_group_is_one_commit_and_a_refusal_in_it_takes_no_other_write_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("group.redb")).unwrap();

        // Together: each sees the writes before it in the same transaction.
        let (a, a_answer) = waiting("a");
        let (b, b_answer) = waiting("b");
        write_group(&db, vec![a, b]);
        assert_eq!(count(a_answer).unwrap(), 1);
        assert_eq!(count(b_answer).unwrap(), 2);

        // A refused write in the middle: the others are written alone, in order.
        let (c, c_answer) = waiting("c");
        let (again, again_answer) = waiting("a");
        let (d, d_answer) = waiting("d");
        write_group(&db, vec![c, again, d]);
        assert_eq!(count(c_answer).unwrap(), 3);
        assert!(count(again_answer).is_err());
        assert_eq!(count(d_answer).unwrap(), 4);
        assert_eq!(rows(&db), ["a", "b", "c", "d"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_from_many_tasks_each_get_their_own_answer_and_the_database_closes_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group.redb");
        let db = Arc::new(Database::create(&path).unwrap());
        let writer = Arc::new(Writer::start(Arc::clone(&db)).unwrap());
        drop(db);
        const KEYS: [&str; 12] = [
            "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k0", "k1",
        ];
        let tasks: Vec<_> = KEYS
            .into_iter()
            .map(|key| {
                let writer = Arc::clone(&writer);
                tokio::spawn(async move { writer.commit(insert(key)).await })
            })
            .collect();
        let mut counts = Vec::new();
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(n) => counts.push(n),
                Err(_) => refused += 1,
            }
        }
        counts.sort_unstable();
        // Ten keys written, each answered with a distinct row count; the two repeats refused.
        assert_eq!(counts, (1..=10).collect::<Vec<u64>>());
        assert_eq!(refused, 2);
        drop(writer);
        let again = Database::create(&path).expect("the writer closed the database");
        assert_eq!(rows(&again).len(), 10);
    }
}
