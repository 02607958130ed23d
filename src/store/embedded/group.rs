//! Group commit: listings and the workers' batches are written by one thread of the store's
//! own (at the priority of the thread that opened the store), and the writes that arrive while
//! it commits are written together next, in one transaction and one durable commit. A lone
//! write is written at once. Each write is answered only after the commit that holds it; when
//! one of a group is refused (or fails), the group's transaction is dropped, nothing of it
//! written, that write is answered with its refusal, and the others are written again
//! without it, so a refusal never takes another write with it.

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

fn write_group(db: &Database, mut group: Vec<Waiting>) {
    if group.len() == 1 {
        let waiting = group.remove(0);
        let _ = waiting.answer.send(write_one(db, &waiting.work));
        return;
    }
    // A write that fails in the group's transaction is answered with its failure and left
    // out, and the transaction is begun again without it: the writes before it see the same
    // state again, so its answer stands, and the others are not held to it.
    loop {
        match write_all(db, &group) {
            Written::All(answers) => {
                for (waiting, answer) in group.into_iter().zip(answers) {
                    let _ = waiting.answer.send(Ok(answer));
                }
                return;
            }
            Written::Failed(at, error) => {
                let waiting = group.remove(at);
                let _ = waiting.answer.send(Err(error));
                if group.is_empty() {
                    return;
                }
            }
            Written::NotCommitted(message) => {
                for waiting in group {
                    let _ = waiting
                        .answer
                        .send(Err(StoreError::Unavailable(message.clone())));
                }
                return;
            }
        }
    }
}

enum Written {
    /// Committed: every write's answer.
    All(Vec<Answer>),
    /// The write at this place failed, with this error; nothing was committed.
    Failed(usize, StoreError),
    /// The transaction could not begin or commit; nothing was written.
    NotCommitted(String),
}

fn write_all(db: &Database, group: &[Waiting]) -> Written {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => return Written::NotCommitted(e.to_string()),
    };
    let mut answers = Vec::with_capacity(group.len());
    for (at, waiting) in group.iter().enumerate() {
        match run(&waiting.work, &txn) {
            Ok(answer) => answers.push(answer),
            Err(error) => return Written::Failed(at, error),
        }
    }
    match txn.commit() {
        Ok(()) => Written::All(answers),
        Err(e) => Written::NotCommitted(e.to_string()),
    }
}

fn write_one(db: &Database, work: &Work) -> StoreResult<Answer> {
    let txn = db.begin_write().map_err(db_err)?;
    let written = run(work, &txn)?;
    txn.commit().map_err(db_err)?;
    Ok(written)
}

/// Runs one write; a panic in it fails that write alone, not the writer.
fn run(work: &Work, txn: &WriteTransaction) -> StoreResult<Answer> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(txn)))
        .unwrap_or_else(|_| Err(StoreError::unavailable("a store write failed unexpectedly")))
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

        // A refused write in the middle: the others are written together without it.
        let (c, c_answer) = waiting("c");
        let (again, again_answer) = waiting("a");
        let (d, d_answer) = waiting("d");
        write_group(&db, vec![c, again, d]);
        assert_eq!(count(c_answer).unwrap(), 3);
        assert!(count(again_answer).is_err());
        assert_eq!(count(d_answer).unwrap(), 4);
        assert_eq!(rows(&db), ["a", "b", "c", "d"]);

        // A write that panics fails alone; the writer goes on.
        let (e, e_answer) = waiting("e");
        let (answer, panicked) = oneshot::channel();
        let work: Work = Box::new(|_| panic!("a bug in a write"));
        write_group(&db, vec![Waiting { work, answer }, e]);
        assert!(panicked.blocking_recv().unwrap().is_err());
        assert_eq!(count(e_answer).unwrap(), 5);

        // Refused for a write before it in the same group: that write stays.
        let (f, f_answer) = waiting("f");
        let (f_again, f_again_answer) = waiting("f");
        write_group(&db, vec![f, f_again]);
        assert_eq!(count(f_answer).unwrap(), 6);
        assert!(count(f_again_answer).is_err());
        assert_eq!(rows(&db), ["a", "b", "c", "d", "e", "f"]);
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
